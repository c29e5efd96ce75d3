/** The parts of a {@link StoreSnapshot} that every store reads through the Store interface itself. */
import type { Store, StoreSnapshot } from './store.ts';

/** Policies, reference-value sets, trust and the whole audit log of `store` (what is not sealed). */
export async function openParts(store: Store): Promise<Pick<StoreSnapshot, 'policies' | 'references' | 'trust' | 'audit'>> {
  const policies: StoreSnapshot['policies'] = [];
  for (const name of await store.listPolicies()) policies.push(await store.getPolicy(name));
  return { policies, references: Object.values(await store.referenceSets()), trust: await store.getTrust(), audit: await store.readAudit() };
}
