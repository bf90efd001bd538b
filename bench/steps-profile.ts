// A CPU profile of the steps/s scenario, summarized: the node in this process (file log, content
// store, real executor), `c` single-step workflows kept in flight for `seconds`, profiled with
// the inspector for the throughput phase only (after a warm-up).
//
//   node bench/steps-profile.ts [--seconds 5] [--c 64] [--fsync batch|none] [--json] [--out FILE]
//                               [--alloc [--promoted]] [--rounds N]
//
// Prints steps/s, then self time by file and by function; --out keeps the .cpuprofile (open it
// in Chrome DevTools or speedscope). With --alloc, the sampling heap profiler instead (one sample
// per 4 KiB, garbage included): bytes allocated per workflow by file and by function — the rate
// that sets the garbage collector's share and how far the heap grows (--out: .heapprofile).
// V8 counts what an inlined function allocates in the frame of the function it was inlined into.
// With --promoted, only the samples whose objects outlived a young-generation collection. Not a
// reliable account of what reaches the old space: it once put a fifth of the promoted bytes on
// objects a direct check found still young; `old-space.bench.ts` measures that from V8's own
// counters (bench/README.md, eighteenth part).
// With --rounds N, no profiler: N rounds of `seconds` each, every one printed as steps/s, the
// main thread's busy time per step (event-loop utilization) and the process's CPU per step (all
// threads) — the figures to compare two commits by, alternating runs of each, on a machine
// whose load moves steps/s more than most changes do — and the log's group commits (per
// second, records in each, the mean wait for a commit's sync from issued to seen, and the time
// from one commit to the next).
import { rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import type { Throughput } from './lib/our-node-protocol.ts';
import { openInProcessNode } from './lib/in-process-node.ts';
import {
  summarize,
  summarizeAllocations,
  type AllocationNode,
  type Profile,
} from './lib/profile-summary.ts';
import { arg, commitsBetween, flag, machine } from './lib/report.ts';
import { buildExampleModule, fsyncPolicy } from './lib/example-module.ts';

const SECONDS = Number(arg('seconds', '5'));
const C = Number(arg('c', '64'));
const FSYNC = arg('fsync', 'batch');
const OUT = arg('out', '');
const ALLOC = flag('alloc');
const PROMOTED = flag('promoted');
const ROUNDS = Number(arg('rounds', '0'));
const { root, wasm, rsc } = await buildExampleModule('profile');
const { log, driver, close: closeNode } = await openInProcessNode(root, wasm, fsyncPolicy(FSYNC));

const req = { id: 0, cmd: 'throughput', rsc, n: 1, c: C, json: flag('json') } as const;
async function close(): Promise<void> {
  await closeNode();
  rmSync(root, { recursive: true, force: true });
}
await driver.handle({ ...req, seconds: 1, start: 1 });

/** N rounds, each: steps/s, main thread µs per step, CPU µs per step (all threads). */
async function rounds(n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const elu = performance.eventLoopUtilization();
    const cpu = process.cpuUsage();
    const commits = log.commitStats!();
    const r = (await driver.handle({
      ...req,
      seconds: SECONDS,
      start: 1e8 * (i + 2),
    })) as Throughput;
    const busyMs = performance.eventLoopUtilization(elu).active;
    const used = process.cpuUsage(cpu);
    out.push(
      `${(r.workflows / r.seconds).toFixed(0)} steps/s, main thread ${((busyMs * 1000) / r.workflows).toFixed(1)} µs/step, CPU ${((used.user + used.system) / r.workflows).toFixed(1)} µs/step; ` +
        commitsBetween(commits, log.commitStats!(), r.seconds),
    );
  }
  return out;
}
if (ROUNDS > 0) {
  const lines = await rounds(ROUNDS);
  await close();
  console.log(
    `${C} single-step workflows in flight, fsync ${FSYNC} (${JSON.stringify(machine())})`,
  );
  for (const line of lines) console.log(line);
} else {
  await profiled();
}

/** One profiled round, summarized. */
async function profiled(): Promise<void> {
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
  await close();

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
}
