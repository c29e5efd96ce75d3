/**
 * The state machine every enclave runtime follows: loaded → initialized → destroyed. init may be retried
 * after it failed; destroy is allowed in any state and idempotent, so cleanup paths can always call it.
 */
import { PAL_ERR_STATE, palError } from './codes.ts';

/** States of an enclave runtime. */
export type PalState = 'loaded' | 'initializing' | 'initialized' | 'destroyed';

/** Tracks one runtime's state and rejects calls made out of order with PAL_ERR_STATE. */
export class PalLifecycle {
  readonly #runtime: string;
  #state: PalState = 'loaded';

  constructor(runtime: string) {
    this.#runtime = runtime;
  }

  /** The current state. */
  get state(): PalState {
    return this.#state;
  }

  /** Enters `initializing`; only allowed once, from `loaded`. */
  beginInit(): void {
    if (this.#state !== 'loaded') throw this.#outOfOrder('init', 'it is already initialized');
    this.#state = 'initializing';
  }

  /** Runs one init: beginInit(), then `initialize`, then endInit() with its outcome (rethrowing its error). */
  async runInit(initialize: () => Promise<void> | void): Promise<void> {
    this.beginInit();
    try {
      await initialize();
      this.endInit(true);
    } catch (err) {
      this.endInit(false);
      throw err;
    }
  }

  /** Ends init: `initialized` on success, back to `loaded` on failure (init may be retried). */
  endInit(ok: boolean): void {
    if (this.#state === 'initializing') this.#state = ok ? 'initialized' : 'loaded';
  }

  /** Throws PAL_ERR_STATE unless the runtime is initialized. */
  requireInitialized(call: string): void {
    if (this.#state === 'initialized') return;
    throw this.#outOfOrder(call, this.#state === 'destroyed' ? 'it was destroyed' : 'init() has not succeeded');
  }

  /** Enters `destroyed`; returns the previous state (destroy is a no-op when that is already `destroyed`). */
  markDestroyed(): PalState {
    const previous = this.#state;
    this.#state = 'destroyed';
    return previous;
  }

  #outOfOrder(call: string, why: string): Error {
    return palError(PAL_ERR_STATE, `Cannot call ${call}() on enclave runtime ${this.#runtime}: ${why}`, {
      details: { call, state: this.#state },
    });
  }
}
