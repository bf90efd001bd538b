// This node side by side with Restate 1.7 on N-step durable workflows of trivial steps, in the
// same run.
//
//   node bench/restate.bench.ts [--runs 100] [--warmup 100] [--warmup-seconds 2] [--seconds 3] [--concurrency 1,16,64,256] [--fsync batch|none|MS]
//                              [--poll-while-syncing MS] [--compiled] [--heap-growth P]
//                              [--young-generation MIB]
//
// - Restate: a service handler doing N `ctx.run` steps (each journaled, replicated loglet with
//   RocksDB WAL fsync — the server's defaults), called through the ingress over HTTP;
// - this node: an N-task chain of `add_one` on the example component (real Wasm executor), on
//   the embedded file log (fsync per group commit by default), through the library API in a
//   child process. N = 0 is, for Restate, a handler with no step; for this node (which refuses
//   empty workflows) a one-task workflow whose task is memoized, so nothing runs.
// Figures: submit → result p50/p99 for N = 0, 1, 3, 10 (sequential), the marginal step (slope
// of p50 between N = 1 and N = 10), and steps/s with c single-step workflows in flight. Each
// latency scenario is first run unmeasured on both sides, in batches of `--warmup` runs until at
// least `--warmup` runs and `--warmup-seconds` have passed on that side: the figures are the
// steady state of a running node (JIT-compiled paths, open connections). A count alone does not
// reach it — V8 optimizes this node's hot paths only after some thousands of calls, about a
// second of memo hits — so the warm-up is bounded by time too. A process's first task is what
// cold-start.bench.ts measures.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startOurNode, type Throughput } from './lib/our-node-protocol.ts';
import {
  arg,
  higherIsBetter,
  lowerIsBetter,
  mib,
  ms,
  pct,
  printTable,
  rate,
  writeResults,
  numberArg,
  warmUp,
  type Row,
} from './lib/report.ts';
import { PeerUnavailableError } from './peers/errors.ts';
import { startRestate, type Restate } from './peers/restate.ts';
import { buildExampleModule } from './lib/example-module.ts';
import { describeParts } from './lib/rss-parts.ts';

const RUNS = Number(arg('runs', '100'));
const WARMUP = Number(arg('warmup', '100'));
const WARMUP_SECONDS = Number(arg('warmup-seconds', '2'));
const SECONDS = Number(arg('seconds', '3'));
const CONCURRENCY = arg('concurrency', '1,16,64,256').split(',').map(Number);
const FSYNC = arg('fsync', 'batch');
const STEPS = [0, 1, 3, 10];
const TITLE = `this node vs Restate 1.7 — durable N-step workflows (this node: file log, fsync ${FSYNC}; Restate: defaults, WAL fsync)`;

const { root, wasmFile, rsc } = await buildExampleModule('restate');

let restate: Restate;
try {
  restate = await startRestate({ dir: join(root, 'restate') });
} catch (e) {
  if (!(e instanceof PeerUnavailableError)) throw e;
  console.log(
    `\nRestate skipped: ${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}`,
  );
  writeResults('restate', { title: TITLE, peer: 'Restate', rows: [], skipped: e.message });
  rmSync(root, { recursive: true, force: true });
  process.exit(0);
}
const ours = await startOurNode({
  wasm: [wasmFile],
  fsync: FSYNC,
  pollWhileSyncingMs: numberArg('poll-while-syncing'),
});

const rows: Row[] = [];
let partsLine: string | undefined;
const raw: Record<string, unknown> = {};
let start = 1_000_000;

async function restateLatency(n: number, runs: number): Promise<number[]> {
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const x = (start += 1000);
    const t = performance.now();
    const out = await restate.call(n, x);
    xs.push(performance.now() - t);
    if (out !== x + n) throw new Error(`restate: steps(${n}, ${x}) returned ${out}`);
  }
  return xs;
}

async function oursLatency(n: number, runs: number): Promise<number[]> {
  const { result } = await ours.request<number[]>({
    cmd: 'latency',
    rsc,
    n,
    runs,
    start: (start += 10_000_000),
  });
  return result;
}

async function restateThroughput(c: number, seconds: number): Promise<Throughput> {
  let done = 0;
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (performance.now() < deadline) {
        await restate.call(1, (start += 1000));
        done++;
      }
    }),
  );
  return { workflows: done, seconds: (performance.now() - t0) / 1000 };
}

try {
  // Warm both: compile and cache the module here, open connections and deployment there.
  await oursLatency(1, 5);
  await restateLatency(1, 5);

  const p50 = new Map<number, [number, number]>();
  for (const n of STEPS) {
    const warm = { runs: WARMUP, seconds: WARMUP_SECONDS };
    await warmUp((runs) => restateLatency(n, runs), warm);
    await warmUp((runs) => oursLatency(n, runs), warm);
    const theirs = await restateLatency(n, RUNS);
    const mine = await oursLatency(n, RUNS);
    raw[`latency-${n}`] = { ours: mine, restate: theirs };
    const [a50, a99, b50, b99] = [pct(mine, 50), pct(mine, 99), pct(theirs, 50), pct(theirs, 99)];
    p50.set(n, [a50, b50]);
    const label = n === 0 ? 'N = 0 (this node: memo hit; Restate: no step)' : `N = ${n} steps`;
    rows.push({
      scenario: `${label}: submit → result p50`,
      ours: ms(a50),
      peer: ms(b50),
      ratio: lowerIsBetter(a50, b50),
    });
    rows.push({
      scenario: `${label}: submit → result p99`,
      ours: ms(a99),
      peer: ms(b99),
      ratio: lowerIsBetter(a99, b99),
      note: `${RUNS} runs each`,
    });
  }
  const slope = (i: 0 | 1): number => (p50.get(10)![i] - p50.get(1)![i]) / 9;
  rows.push({
    scenario: 'marginal durable step p50 (slope N = 1 → 10)',
    ours: ms(slope(0)),
    peer: ms(slope(1)),
    ratio: lowerIsBetter(slope(0), slope(1)),
  });

  for (const c of CONCURRENCY) {
    const theirs = await restateThroughput(c, SECONDS);
    const { result: mine } = await ours.request<Throughput>({
      cmd: 'throughput',
      rsc,
      n: 1,
      c,
      seconds: SECONDS,
      start: (start += 100_000_000),
    });
    const [a, b] = [mine.workflows / mine.seconds, theirs.workflows / theirs.seconds];
    raw[`throughput-${c}`] = { ours: mine, restate: theirs };
    rows.push({
      scenario: `steps/s, ${c} single-step workflows in flight`,
      ours: rate(a, '/s'),
      peer: rate(b, '/s'),
      ratio: higherIsBetter(a, b),
    });
  }

  const { peakRss: ourPeak, peakParts } = await ours.request<null>({ cmd: 'run', workflows: [] });
  const theirPeak = restate.peakRss();
  rows.push({
    scenario: 'peak RSS over the run',
    ours: mib(ourPeak),
    peer: mib(theirPeak.server + theirPeak.service),
    ratio: lowerIsBetter(ourPeak, theirPeak.server + theirPeak.service),
    note: `Restate: server ${mib(theirPeak.server)} + SDK service ${mib(theirPeak.service)}`,
  });
  // What the node's peak was made of (bench/lib/rss-parts.ts): the binary's pages, V8's
  // generations, array buffers and the rest, at the highest RSS the child sampled.
  if (peakParts !== undefined) partsLine = `this node's peak RSS, ${describeParts(peakParts)}`;
  raw.peakRss = {
    ours: ourPeak,
    oursParts: peakParts,
    restateServer: theirPeak.server,
    restateService: theirPeak.service,
  };
} finally {
  await ours.close();
  await restate.close();
}

printTable(TITLE, 'Restate', rows);
if (partsLine !== undefined) console.log(partsLine);
const file = writeResults('restate', {
  title: TITLE,
  peer: 'Restate 1.7.12',
  rows,
  raw,
  runs: RUNS,
  seconds: SECONDS,
  fsync: FSYNC,
});
console.log(`results: ${file}`);
rmSync(root, { recursive: true, force: true });
