// Memory of a wide workflow: N independent tasks submitted at once on the embedded log, run to
// completion, with the peak RSS beside the floor measured in the same process (the node started
// and idle, no workflow) and the bytes per task between the two.
//
//   node --expose-gc bench/many-tasks.bench.ts [--tasks 100000] [--concurrency 16]
//   (with --expose-gc it also prints the heap and the external memory — array buffers — kept
//   after the run, after a full collection)
//
// One process per measurement (peak RSS is per process); quote the median of a few runs.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileLog } from '../streams/file/index.ts';
import { createNode } from '../processors/engine/node.ts';
import { parseWorkflow } from '../schemas/model.ts';
import type { IpldValue } from '../schemas/ipld.ts';
import { createCoreRunner } from '../test/harness/core-runner.ts';
import { arg } from './lib/report.ts';

const N = Number(arg('tasks', '100000'));
const CONCURRENCY = Number(arg('concurrency', '16'));
const MiB = 1024 * 1024;
const peakRss = (): number => process.resourceUsage().maxRSS * 1024;

const dir = await mkdtemp(join(tmpdir(), 'ipvm-many-'));
const log = createFileLog({ dir, fsync: 'none' });
const runner = await createCoreRunner();
const node = await createNode({ log, runner, concurrency: CONCURRENCY });
globalThis.gc?.();
const floor = process.memoryUsage().rss;
const heapFloor = process.memoryUsage().heapUsed;
const tasks: IpldValue[] = [];
for (let i = 0; i < N; i++) {
  tasks.push({
    run: { rsc: runner.rsc, op: 'wasm/run', input: { func: 'add_one', args: [i] }, nnc: '' },
    cause: null,
    meta: {},
    prf: [],
  });
}
const started = performance.now();
// Only the CID stays here: the document and its parse are the node's to keep or drop.
const cid = await (async () => {
  const parsed = parseWorkflow({ tasks });
  tasks.length = 0;
  await node.submit(parsed);
  return parsed.cid;
})();
const end = await node.ended(cid);
const ms = performance.now() - started;
const peak = peakRss();
// What the node keeps once the run is over (memo, ended run), after a full collection, once
// the executor's consumer has read the backlog of released tasks (it drops what already ran).
if (globalThis.gc !== undefined) await new Promise((r) => setTimeout(r, 3_000));
globalThis.gc?.();
const retained = process.memoryUsage();
await node.close();
await log.close();
await rm(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({
    tasks: N,
    status: end.type,
    seconds: +(ms / 1000).toFixed(1),
    floorMiB: Math.round(floor / MiB),
    peakMiB: Math.round(peak / MiB),
    bytesPerTask: Math.round((peak - floor) / N),
    ...(globalThis.gc === undefined
      ? {}
      : {
          heapFloorMiB: Math.round(heapFloor / MiB),
          heapAfterMiB: Math.round(retained.heapUsed / MiB),
          externalAfterMiB: Math.round(retained.external / MiB),
        }),
  }),
);
