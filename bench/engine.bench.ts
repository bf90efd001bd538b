// The engine end to end on the embedded file log, trivial Wasm tasks (the example component's
// add-one, through the real executor).
//
//   node bench/engine.bench.ts [--fsync batch|none|MS] [--seconds 3] [--placement] [--ready-after MS]
//                              [--concurrency 16,64,256] [--poll-while-syncing MS] [--partitions N]
//                              [--no-spill]
//   (with node --expose-gc it also prints the memory each workflow leaves behind)
//
// `--ready-after MS` sets `NodeInit.readyRecordAfterMs` (0: a task/ready record for every task,
// as before pure tasks run here skipped it) for an A/B of that record's cost.
// `--poll-while-syncing MS` sets the file log's `pollWhileSyncingMs` (0: the event loop sleeps
// while a group commit is on the disk) for an A/B of that option.
// `--partitions N` creates every stream with N partitions instead of what the composition root
// gives a file log (one per stream; 4 is the brokers' default), for an A/B of that choice.
// `--no-spill` keeps the memo's and the ended registry's packed entries in memory instead of a
// scratch file in the data directory (`NodeInit.spillDir`), for an A/B of memory and speed.
// `--placement` gives the node the placement seam a node opened by `openNode` has (a node alone:
// `createLocalPlacement`), to show that tasks without `meta.node`/`meta.needs` do not pay for it.
//
// Scenarios:
// - steps/s at concurrency 16 / 64 / 256 (`--concurrency`): that many single-task workflows kept
//   in flight, each with a distinct instruction (no memo hits), each awaited with `node.ended`
//   (so thousands in flight also measure what thousands of waiting callers cost), with the
//   process's CPU time per step (user + system, all threads: throughput per core) and the share
//   of the time its event loop was busy (the rest it waited, mostly for a group commit), and
//   the log's group commits meanwhile (per second, records in each, each one's sync from issued
//   to seen: `Log.commitStats`);
// - latency submit → workflow end for N-task chains, N = 1, 3, 10 (p50/p99), and the marginal
//   step (slope between N = 1 and N = 10); N = 0 is a workflow whose one task is memoized, i.e.
//   a memo hit end to end;
// - in-process memo lookup;
// - replay: a node rebuilt from offset 0 over a fully memoized stream (events/s).
// Baselines in the same run: one durable 256-byte append (write + fdatasync) on the same disk,
// the same synced on the thread pool (a memo hit's one commit, one file), the same on two files
// at once (a single-step workflow's receipt and end), and one raw core-module Wasm call.
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir, loadavg, cpus } from 'node:os';
import { join } from 'node:path';
import { createFileLog } from '../streams/file/index.ts';
import { createNode, type IpvmNode } from '../processors/engine/node.ts';
import { topologyFor } from '../processors/compose/open-log.ts';
import { createTopology, STREAM_NAMES } from '../streams/topology.ts';
import { createLocalPlacement } from '../processors/cluster/local-placement.ts';
import { createHeliaContentStore } from '../processors/content/index.ts';
import { createExecutor } from '../processors/wasm/index.ts';
import { wasmRunner } from '../processors/wasm-runner.ts';
import { parseWorkflow } from '../schemas/model.ts';
import type { NodeEvent } from '../schemas/events.ts';
import type { LogRecord } from '../streams/log.ts';
import { decodeRecord, eventRecord, routingOf } from '../processors/engine/envelope.ts';
import type { IpldValue } from '../schemas/ipld.ts';
import { buildCoreModule } from '../test/components/build.ts';
import { arg, commitsBetween, flag, numberArg } from './lib/report.ts';
import { fsyncPolicy } from './lib/example-module.ts';
import { durableAppends, poolCommits } from './lib/disk.ts';

const fsyncArg = arg('fsync', 'batch');
const fsync = fsyncPolicy(fsyncArg);
const SECONDS = Number(arg('seconds', '3'));

const root = mkdtempSync(join(tmpdir(), 'ipvm-bench-engine-'));
const examples = join(import.meta.dirname, '..', 'examples');

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
const f = (n: number, d = 2): string => n.toFixed(d);

// --- the node ------------------------------------------------------------------------------
const { execFileSync } = await import('node:child_process');
const dataDir = join(root, 'data');
execFileSync(process.execPath, [join(examples, 'build.ts'), '--data-dir', dataDir], {
  stdio: 'ignore',
});
const exampleWorkflow = JSON.parse(
  readFileSync(join(examples, 'workflows', 'add-one.json'), 'utf8'),
) as {
  tasks: Array<{ run: { rsc: string } }>;
};
const rsc = exampleWorkflow.tasks[0]!.run.rsc;
const content = await createHeliaContentStore({ dataDir });
const executor = createExecutor({ content, cacheDir: join(dataDir, 'cache') });
const runner = wasmRunner(executor);

let counter = 0;
function task(args: IpldValue[], func = 'add_one'): IpldValue {
  return {
    run: { rsc, op: 'wasm/run', input: { func, args }, nnc: '' },
    cause: null,
    meta: {},
    prf: [],
  };
}
function chain(n: number): IpldValue {
  const tasks: IpldValue[] = [];
  let prev: IpldValue | null = null;
  const start = ++counter * 1000;
  for (let i = 0; i < n; i++) {
    const t = task([prev === null ? start : { 'await/ok': prev }]);
    tasks.push(t);
    prev = parseWorkflow({ tasks: [t] }).tasks[0]!.instruction;
  }
  return { tasks };
}

async function roundTrip(node: IpvmNode, wf: IpldValue): Promise<number> {
  const t = performance.now();
  const parsed = await node.submit(wf);
  const end = await node.ended(parsed.cid);
  if (end.type !== 'workflow/completed')
    throw new Error(`workflow failed: ${end.reason ?? end.failed.join(',')}`);
  return performance.now() - t;
}

const rawModule = new WebAssembly.Module(await buildCoreModule('add-one-core'));
const rawInstance = new WebAssembly.Instance(rawModule);
const rawAdd = rawInstance.exports.add_one as (x: number) => number;
let sink = 0;
const rawT = performance.now();
for (let i = 0; i < 1_000_000; i++) sink += rawAdd(i);
const rawCallNs = ((performance.now() - rawT) * 1e6) / 1_000_000;

const fsyncLat = await durableAppends(root, { min: 200 });
const poolLat = await poolCommits(root, 1, { min: 200 });
const twoFileLat = await poolCommits(root, 2, { min: 200 });
const results: Array<[string, string, string]> = [];

const log = createFileLog({
  dir: join(root, 'log'),
  fsync,
  pollWhileSyncingMs: numberArg('poll-while-syncing'),
});
const placement = process.argv.includes('--placement')
  ? createLocalPlacement(() => ({ nodeId: 'bench', effectHosts: [], secrets: [] }))
  : undefined;
// The topology the composition root gives a file log (processors/compose/open-log.ts);
// `--partitions N` instead creates every stream with N partitions (4: the brokers' default).
const partitionsArg = numberArg('partitions');
const topology =
  partitionsArg === undefined
    ? await topologyFor(log, 'file', 'ipvm')
    : createTopology({
        partitions: Object.fromEntries(STREAM_NAMES.map((s) => [s, partitionsArg])),
      });
const node = await createNode({
  log,
  runner,
  nodeId: 'bench',
  concurrency: 256,
  placement,
  readyRecordAfterMs: numberArg('ready-after'),
  topology,
  // As openNode gives it (processors/compose/open-node.ts); --no-spill keeps the history in memory.
  spillDir: flag('no-spill') ? undefined : join(dataDir, 'cache'),
});

// Warm up: compile and cache the module.
await roundTrip(node, chain(1));

// --- latency: chains -------------------------------------------------------------------------
const latency = new Map<number, number[]>();
for (const n of [1, 3, 10]) {
  const xs: number[] = [];
  const deadline = performance.now() + SECONDS * 1000;
  while (performance.now() < deadline || xs.length < 20) xs.push(await roundTrip(node, chain(n)));
  latency.set(n, xs);
  results.push([
    `chain of ${n}: submit → end p50 / p99`,
    `${f(pct(xs, 50))} / ${f(pct(xs, 99))} ms`,
    `${xs.length} runs`,
  ]);
}
const marginal = (pct(latency.get(10)!, 50) - pct(latency.get(1)!, 50)) / 9;
results.push([
  'marginal durable step p50 (slope N=1→10)',
  `${f(marginal, 3)} ms`,
  `budget ≤ 0.3 ms`,
]);

// --- memo hit end to end (N = 0: nothing executes) -----------------------------------------
{
  const wf = chain(1);
  await roundTrip(node, wf);
  const xs: number[] = [];
  // 200 unmeasured first (the steady state of a running node; the chains above warmed the rest).
  for (let i = 0; i < 400; i++) {
    // A fresh workflow CID around a memoized instruction: a different cause per run.
    const t = (wf as { tasks: Array<Record<string, IpldValue>> }).tasks[0]!;
    const ms = await roundTrip(node, { tasks: [{ ...t, meta: { run: i } }] });
    if (i >= 200) xs.push(ms);
  }
  results.push([
    'memo hit, submit → end p50 / p99 (N = 0)',
    `${f(pct(xs, 50), 3)} / ${f(pct(xs, 99), 3)} ms`,
    'budget p50 ≤ 0.1 ms',
  ]);
  const key = parseWorkflow(wf).tasks[0]!.instruction.toString();
  const t = performance.now();
  let hits = 0;
  for (let i = 0; i < 1_000_000; i++) if (node.memo.get(key) !== undefined) hits++;
  results.push([
    'in-process memo lookup',
    `${f(((performance.now() - t) * 1e6) / 1_000_000 / 1000, 3)} µs`,
    `budget ≤ 5 µs (${hits} hits)`,
  ]);

  // What the executor's consumer spends on another node's submission it skips: its routing
  // header read, where it used to decode the record (executor-stage.ts).
  for (const n of [1, 100]) {
    const w = parseWorkflow(chain(n));
    const event = {
      type: 'workflow/submitted',
      workflow: w.cid,
      body: w.workflow,
      name: null,
      at: 1,
    };
    const appended = eventRecord(w.cid.toString(), event as NodeEvent);
    const record: LogRecord = {
      stream: 'invocations',
      partition: 0,
      offset: 0,
      key: appended.key,
      value: appended.value,
      headers: appended.headers ?? {},
      timestamp: 0,
    };
    const time = (fn: () => unknown, runs: number): number => {
      for (let i = 0; i < runs / 10; i++) fn();
      const t0 = performance.now();
      for (let i = 0; i < runs; i++) fn();
      return ((performance.now() - t0) * 1000) / runs;
    };
    const runs = n === 1 ? 20_000 : 1_000;
    const header = time(() => routingOf(record), runs);
    const decoded = time(() => decodeRecord(record), runs);
    results.push([
      `another node's ${n}-task submission in the executor: routing header read`,
      `${f(header, 2)} µs`,
      `decoding it: ${f(decoded, 2)} µs (${appended.value.length} B)`,
    ]);
  }
}

// --- throughput at concurrency ---------------------------------------------------------------
// With --expose-gc: the memory (heap and array buffers) a workflow leaves behind for good (the memo, the ended registry,
// the body index...), from full collections before and after the throughput runs.
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
const kept0 = process.memoryUsage();
const heapBefore = kept0.heapUsed + kept0.external;
let workflows = 0;
for (const c of arg('concurrency', '16,64,256').split(',').map(Number)) {
  let done = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const loop0 = performance.eventLoopUtilization();
  const commits0 = log.commitStats!();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (performance.now() < deadline) {
        await roundTrip(node, { tasks: [task([++counter])] });
        done++;
      }
    }),
  );
  const s = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // The share of the time the event loop worked: the rest it waited, mostly for group commits.
  const busy = performance.eventLoopUtilization(loop0).utilization;
  results.push([
    `steps/s, ${c} single-task workflows in flight`,
    f(done / s, 0),
    `budget ≥ 15 000; ${done} steps; CPU ${f((cpu.user + cpu.system) / done, 0)} µs per step (all threads); event loop busy ${f(busy * 100, 0)}%; ` +
      // The log's group commits meanwhile: how often, how full, how long each waited for its sync.
      commitsBetween(commits0, log.commitStats!(), s),
  ]);
  workflows += done;
}
if (gc !== undefined) {
  gc();
  const after = process.memoryUsage();
  const kept = after.heapUsed + after.external - heapBefore;
  results.push([
    'memory kept per workflow (heap + external, full collections around the runs)',
    `${f(kept / workflows, 0)} B`,
    `${f(kept / 2 ** 20, 1)} MiB for ${workflows} workflows`,
  ]);
}

await node.close();

// --- replay from offset 0 ----------------------------------------------------------------------
{
  let recovered: { receipts: number; invocations: number; ms: number } | undefined;
  const again = await createNode({
    log,
    topology,
    runner,
    nodeId: 'replay',
    spillDir: flag('no-spill') ? undefined : join(dataDir, 'cache'),
    onProgress: (e) => {
      if (e.type === 'node:recovered') recovered = e;
    },
  });
  await again.close();
  const events = recovered!.receipts + recovered!.invocations;
  results.push([
    'replay from offset 0 (memo + scheduler rebuilt)',
    `${f(events / (recovered!.ms / 1000), 0)} events/s`,
    `${events} events in ${f(recovered!.ms, 0)} ms; budget ≥ 250 000/s`,
  ]);
}
await log.close();
await executor.close();
await content.close();

results.push([
  'baseline: durable 256-byte append (write + fdatasync)',
  `${f(pct(fsyncLat, 50), 3)} ms p50`,
  `p99 ${f(pct(fsyncLat, 99), 3)} ms`,
]);
results.push([
  "baseline: the same synced on the thread pool (a memo hit's commit)",
  `${f(pct(poolLat, 50), 3)} ms p50`,
  `p99 ${f(pct(poolLat, 99), 3)} ms`,
]);
results.push([
  'baseline: the same on two files at once (a receipt and an end)',
  `${f(pct(twoFileLat, 50), 3)} ms p50`,
  `p99 ${f(pct(twoFileLat, 99), 3)} ms`,
]);
results.push(['baseline: raw core-module Wasm call', `${f(rawCallNs, 1)} ns`, `sink ${sink % 10}`]);

console.log(
  `\nengine bench — fsync ${fsyncArg}, ${cpus().length} cores, load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}\n`,
);
const w = Math.max(...results.map((r) => r[0].length));
for (const [name, value, note] of results)
  console.log(`${name.padEnd(w)}  ${value.padStart(22)}   ${note}`);
rmSync(root, { recursive: true, force: true });
