// A node process for the crash test: opens the file log in argv[2], submits the workflow in
// argv[3] (a DAG-JSON file) unless it is already there, runs until it ends, prints END and exits.
// argv[4] is the engine test module, built once by the parent.
import { readFile } from 'node:fs/promises';
import { createFileLog } from '../../streams/file/index.ts';
import { createNode } from '../../processors/node.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { createCoreRunner } from '../harness/core-runner.ts';

const [dir, file, wasm] = process.argv.slice(2) as [string, string, string];
const bytes = new Uint8Array(await readFile(file));
const parsed = parseWorkflow(bytes);
const runner = await createCoreRunner(new Uint8Array(await readFile(wasm)));
const log = createFileLog({ dir, fsync: process.env.IPVM_FSYNC === 'none' ? 'none' : 'batch' });
const node = await createNode({
  log,
  runner,
  nodeId: `crash-${process.pid}`,
  concurrency: 8,
  commitIntervalMs: 5,
});
process.stdout.write('UP\n');
await node.submit(bytes); // re-submitting a running or ended workflow changes nothing
const end = await node.ended(parsed.cid);
await node.close();
await log.close();
process.stdout.write(`END ${end.type}\n`);
