// A node process for the crash tests. Usage:
//   crash-child.ts <file-log-dir | namespace> <workflow.json> <engine.wasm>
// Backend from env IPVM_TEST_BACKEND (file | kafka | nats) with KAFKA_BROKERS / NATS_URL.
// Submits the workflow unless it is already there, runs until it ends, prints END and exits
// (with IPVM_CRASH_THEN, after a second workflow: see below).
import { readFile } from 'node:fs/promises';
import type { Log } from '../../streams/log.ts';
import { createFileLog } from '../../streams/file/index.ts';
import { createKafkaLog } from '../../streams/kafka/index.ts';
import { createJetStreamLog } from '../../streams/jetstream/index.ts';
import { createNode } from '../../processors/engine/node.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { createCoreRunner } from '../harness/core-runner.ts';

const [where, file, wasm] = process.argv.slice(2) as [string, string, string];
const backend = process.env.IPVM_TEST_BACKEND ?? 'file';
const bytes = new Uint8Array(await readFile(file));
const parsed = parseWorkflow(bytes);
const runner = await createCoreRunner(new Uint8Array(await readFile(wasm)));
const log: Log =
  backend === 'kafka'
    ? createKafkaLog({ brokers: process.env.KAFKA_BROKERS!.split(','), sessionTimeoutMs: 6_000 })
    : backend === 'nats'
      ? createJetStreamLog({ servers: process.env.NATS_URL!, storage: 'file' })
      : createFileLog({ dir: where, fsync: process.env.IPVM_FSYNC === 'none' ? 'none' : 'batch' });
const crashAfter = Number(process.env.IPVM_CRASH_AFTER ?? 0);
let ran = 0;
const node = await createNode({
  log,
  runner,
  nodeId: `crash-${process.pid}`,
  topology: { namespace: backend === 'file' ? 'ipvm' : where },
  concurrency: 8,
  commitIntervalMs: Number(process.env.IPVM_COMMIT_MS ?? 20),
  // With IPVM_CRASH_AFTER=N the child kills itself (SIGKILL, at once) when its N-th task has
  // run: a pipelined node has receipts in flight then, and it outruns a parent reading a pipe.
  onProgress: (e) => {
    if (e.type === 'execute:ran' && ++ran === crashAfter) process.kill(process.pid, 'SIGKILL');
  },
});
// One line per receipt this life sees.
node.receipts().subscribe(() => process.stdout.write('R\n'));
process.stdout.write('UP\n');
await node.submit(bytes); // re-submitting a running or ended workflow changes nothing
let end = await node.ended(parsed.cid);
// IPVM_CRASH_THEN=<workflow.json>: a second workflow once the first has ended (one that repeats
// its tasks, replayed from the memo, beside new ones).
const then = process.env.IPVM_CRASH_THEN;
if (then !== undefined) {
  const second = new Uint8Array(await readFile(then));
  await node.submit(second);
  end = await node.ended(parseWorkflow(second).cid);
}
await node.close();
await log.close();
// Exit once stdout is flushed: writes to a pipe may be queued, and exit() drops the queue.
process.stdout.write(`END ${end.type}\n`, () => process.exit(0));
