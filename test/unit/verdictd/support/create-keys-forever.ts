// Crash-test child: opens the embedded store in argv[2] and creates keys as fast as it can, printing each kid
// once createKey() has resolved (acknowledged = durable). The test SIGKILLs it mid-burst.
import { openEmbeddedStore } from '../../../../src/verdictd/store/embedded.ts';

const store = await openEmbeddedStore(process.argv[2]!, { init: true });
process.stdout.write('ready\n');
for (;;) {
  const info = await store.createKey();
  process.stdout.write(`${info.kid}\n`);
}
