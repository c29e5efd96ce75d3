// Crash-test child: opens (with init) the embedded store in argv[2], starts the management API on
// 127.0.0.1:0 and prints its address; the test SIGKILLs it in the middle of a burst of `verdict key create`.
import { Broker } from '../../../src/verdictd/broker.ts';
import { startManagementServer } from '../../../src/verdictd/management/server.ts';
import { openEmbeddedStore } from '../../../src/verdictd/store/embedded.ts';

const dir = process.argv[2]!;
const store = await openEmbeddedStore(dir, { init: true });
const server = await startManagementServer({ store, broker: new Broker({ store }), dataDir: dir, address: '127.0.0.1:0' });
process.stdout.write(`${server.address}\n`);
