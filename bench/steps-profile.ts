// A CPU profile of the steps/s scenario, summarized: the node in this process (file log, content
// store, real executor), `c` single-step workflows kept in flight for `seconds`, profiled with
// the inspector for the throughput phase only (after a warm-up).
//
//   node bench/steps-profile.ts [--seconds 5] [--c 64] [--fsync batch|none] [--json] [--out FILE]
//                               [--alloc [--promoted]]
//
// Prints steps/s, then self time by file and by function; --out keeps the .cpuprofile (open it
// in Chrome DevTools or speedscope). With --alloc, the sampling heap profiler instead (one sample
// per 4 KiB, garbage included): bytes allocated per workflow by file and by function — the rate
// that sets the garbage collector's share and how far the heap grows (--out: .heapprofile).
// V8 counts what an inlined function allocates in the frame of the function it was inlined into.
// With --promoted, only what outlived the young generation's collections (promoted to the old
// space, where it waits for a major collection): what makes the heap, and the RSS, grow.
import { rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { createFileLog } from '../streams/file/index.ts';
import { createNode } from '../processors/engine/node.ts';
import { topologyFor } from '../processors/compose/open-log.ts';
import { createHeliaContentStore } from '../processors/content/index.ts';
import { createExecutor } from '../processors/wasm/index.ts';
import { wasmRunner } from '../processors/wasm-runner.ts';
import { createDriver } from './lib/our-node-driver.ts';
import type { Throughput } from './lib/our-node-protocol.ts';
import {
  summarize,
  summarizeAllocations,
  type AllocationNode,
  type Profile,
} from './lib/profile-summary.ts';
import { arg, flag, machine } from './lib/report.ts';
import { buildExampleModule, fsyncPolicy } from './lib/example-module.ts';

const SECONDS = Number(arg('seconds', '5'));
const C = Number(arg('c', '64'));
const FSYNC = arg('fsync', 'batch');
const OUT = arg('out', '');
const ALLOC = flag('alloc');
const PROMOTED = flag('promoted');
const { root, wasm, rsc } = await buildExampleModule('profile');
const fsync = fsyncPolicy(FSYNC);
const content = await createHeliaContentStore({ dataDir: root });
await content.add(wasm);
const executor = createExecutor({ content, cacheDir: join(root, 'cache') });
const log = createFileLog({ dir: join(root, 'log'), fsync });
// The topology the composition root gives a file log (processors/compose/open-log.ts).
const topology = await topologyFor(log, 'file', 'ipvm');
const node = await createNode({ log, runner: wasmRunner(executor), concurrency: 256, topology });
const driver = createDriver(node);

const req = { id: 0, cmd: 'throughput', rsc, n: 1, c: C, json: flag('json') } as const;
await driver.handle({ ...req, seconds: 1, start: 1 });
const session = new Session();
session.connect();
let r: Throughput;
let profile: unknown;
if (ALLOC) {
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: !PROMOTED,
  });
  r = (await driver.handle({ ...req, seconds: SECONDS, start: 1e8 })) as Throughput;
  profile = (await session.post('HeapProfiler.stopSampling')).profile;
} else {
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  r = (await driver.handle({ ...req, seconds: SECONDS, start: 1e8 })) as Throughput;
  profile = (await session.post('Profiler.stop')).profile;
}
session.disconnect();
driver.close();
await node.close();
await log.close();
await executor.close();
await content.close();
rmSync(root, { recursive: true, force: true });

console.log(
  `steps/s with ${C} single-step workflows in flight (fsync ${FSYNC}): ${(r.workflows / r.seconds).toFixed(0)} (${JSON.stringify(machine())})`,
);
if (OUT !== '') writeFileSync(OUT, JSON.stringify(profile));
const top = Number(arg('top', '25'));
console.log(
  ALLOC
    ? summarizeAllocations((profile as { head: AllocationNode }).head, {
        units: r.workflows,
        unit: 'workflow',
        top,
      })
    : summarize(profile as Profile, { top }),
);
