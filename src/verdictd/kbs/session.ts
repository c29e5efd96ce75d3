/**
 * KBS sessions (the `kbs-session-id` cookie): created by `auth` with a fresh nonce, attested at most once by
 * `attest`, then used for resources until they expire. Bounded in number: a new session beyond the bound
 * evicts the oldest (a flood of `auth` requests costs its sender's own sessions and others' not yet attested
 * ones, never memory). The clock is injected.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { TeeType } from '../../attestation/claims.ts';
import type { Attestation } from '../broker.ts';
import type { TeeKey } from './jwe.ts';

/** The cookie that names a session (Trustee's name). */
export const SESSION_COOKIE = 'kbs-session-id';

/** One session. */
export interface KbsSession {
  id: string;
  /** The KBS tee name `auth` gave, and the TEE the evidence must be from. */
  kbsTee: string;
  tee: TeeType;
  /** base64url of 32 random bytes: what runtime-data must carry. */
  nonce: string;
  /** ms since the epoch. */
  expiresAt: number;
  /** Set once `attest` succeeded. */
  attested?: { attestation: Attestation; teeKey: TeeKey };
}

/** Limits of {@link KbsSessions}. */
export interface KbsSessionLimits {
  /** Lifetime of a session (ms); default 5 minutes. */
  ttlMs?: number;
  /** Most sessions kept; default 10,000. */
  max?: number;
}

/** The session table. */
export class KbsSessions {
  #sessions = new Map<string, KbsSession>();
  #now: () => Date;
  #ttlMs: number;
  #max: number;

  constructor(now: () => Date, limits: KbsSessionLimits = {}) {
    this.#now = now;
    this.#ttlMs = limits.ttlMs ?? 5 * 60_000;
    this.#max = limits.max ?? 10_000;
  }

  /** A new session for `tee` with a fresh nonce. */
  create(kbsTee: string, tee: TeeType): KbsSession {
    this.#sweep();
    // Insertion order is age order: the first key is the oldest.
    while (this.#sessions.size >= this.#max) this.#sessions.delete(this.#sessions.keys().next().value!);
    const session: KbsSession = { id: randomUUID(), kbsTee, tee, nonce: randomBytes(32).toString('base64url'), expiresAt: this.#now().getTime() + this.#ttlMs };
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The live session of that id, if any (an expired one is forgotten). */
  get(id: string | undefined): KbsSession | undefined {
    if (id === undefined) return undefined;
    const session = this.#sessions.get(id);
    if (session !== undefined && session.expiresAt <= this.#now().getTime()) {
      this.#sessions.delete(id);
      return undefined;
    }
    return session;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Drops expired sessions from the oldest on (they expire in insertion order). */
  #sweep(): void {
    const now = this.#now().getTime();
    for (const [id, session] of this.#sessions) {
      if (session.expiresAt > now) break;
      this.#sessions.delete(id);
    }
  }
}

/** The session id in a `Cookie` header, if any. */
export function sessionIdOf(cookieHeader: string | undefined): string | undefined {
  if (cookieHeader === undefined) return undefined;
  for (const part of cookieHeader.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}
