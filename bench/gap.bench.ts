// The node in its own process (as restate.bench.ts and homestar.bench.ts drive it) against the
// same node in this process, in one run: the same driver (lib/our-node-driver.ts), the same
// wiring (file log, content store, executor), the same workflows. Each workflow is submitted
// either as an IPLD value (a library caller) or as DAG-JSON text (a client on the wire).
//
//   node bench/gap.bench.ts [--seconds 3] [--concurrency 16,64] [--runs 50] [--fsync batch|none]
//                           [--warmup 50] [--warmup-seconds 2] [--compiled] [--heap-growth P]
//                           [--young-generation MIB]
//
// Each latency scenario is first run unmeasured on both sides, in batches of `--warmup` runs
// until at least `--warmup` runs and `--warmup-seconds` have passed on that side (see `warmUp`
// in lib/report.ts): the figures are those of warm processes.
//
// The child is driven by one IPC request per scenario, so the process boundary itself costs
// nothing per workflow; what differs is measured here.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_HEAP_GROWTH_PERCENT, limitHeapGrowth } from '../processors/compose/heap-growth.ts';
import {
  becomeLongLived,
  DEFAULT_YOUNG_GENERATION_MIB,
} from '../processors/compose/long-lived-process.ts';
import { startOurNode, type Throughput } from './lib/our-node-protocol.ts';
import { openInProcessNode } from './lib/in-process-node.ts';
import {
  arg,
  higherIsBetter,
  lowerIsBetter,
  ms,
  pct,
  printTable,
  rate,
  writeResults,
  warmUp,
  type Row,
} from './lib/report.ts';
import { buildExampleModule, fsyncPolicy } from './lib/example-module.ts';

const SECONDS = Number(arg('seconds', '3'));
const RUNS = Number(arg('runs', '50'));
const CONCURRENCY = arg('concurrency', '16,64').split(',').map(Number);
const FSYNC = arg('fsync', 'batch');
const WARM = { runs: Number(arg('warmup', '50')), seconds: Number(arg('warmup-seconds', '2')) };
const TITLE = `this node in a child process vs in process — one run (file log, fsync ${FSYNC})`;
// Both sides with the heap growth the child has (`ipvm start`'s unless --heap-growth), so that
// what differs is the process boundary (processors/compose/heap-growth.ts).
const HEAP_GROWTH = Number(arg('heap-growth', String(DEFAULT_HEAP_GROWTH_PERCENT)));
limitHeapGrowth(HEAP_GROWTH);
// And in the process the child runs in (processors/compose/long-lived-process.ts): this one
// re-executes itself into it, in place, as `ipvm start` does; the child inherits its flags.
const YOUNG_GENERATION = Number(arg('young-generation', String(DEFAULT_YOUNG_GENERATION_MIB)));
becomeLongLived(YOUNG_GENERATION);

const { root, wasm, wasmFile, rsc } = await buildExampleModule('gap');

const { driver: here, close: closeHere } = await openInProcessNode(
  join(root, 'here'),
  wasm,
  fsyncPolicy(FSYNC),
);
const child = await startOurNode({
  wasm: [wasmFile],
  fsync: FSYNC,
  heapGrowth: HEAP_GROWTH,
  youngGeneration: YOUNG_GENERATION,
});

let start = 1;
/**
 * A fresh range of `add_one` arguments for one request (each run takes 1 000 of them), so no
 * workflow is a memo hit by accident; the arguments stay within the component's 32 bits.
 */
const next = (span = 10_000_000): number => {
  const first = start;
  start += span;
  return first;
};
const rows: Row[] = [];
const raw: Record<string, unknown> = {};

/**
 * Each side twice, in the order child, in process, in process, child: whichever runs second
 * would otherwise share the machine with the first one's leftover background work.
 */
async function both<T>(
  inChild: () => Promise<T>,
  inProcess: () => Promise<T>,
  merge: (a: T, b: T) => T,
): Promise<[T, T]> {
  const c1 = await inChild();
  const p1 = await inProcess();
  const p2 = await inProcess();
  const c2 = await inChild();
  return [merge(c1, c2), merge(p1, p2)];
}
try {
  // warm both
  await here.handle({ id: 0, cmd: 'latency', rsc, n: 1, runs: 5, start: next() });
  await child.request({ cmd: 'latency', rsc, n: 1, runs: 5, start: next() });

  for (const json of [false, true]) {
    const how = json ? 'DAG-JSON text' : 'IPLD value';
    const p50 = new Map<number, [number, number]>();
    for (const n of [0, 1, 10]) {
      const req = { cmd: 'latency', rsc, n, runs: RUNS, json } as const;
      const span = (runs: number): number => (runs + 1) * 1000;
      await warmUp((runs) => child.request({ ...req, runs, start: next(span(runs)) }), WARM);
      await warmUp((runs) => here.handle({ id: 0, ...req, runs, start: next(span(runs)) }), WARM);
      const [mine, inProc] = await both(
        async () => (await child.request<number[]>({ ...req, start: next() })).result,
        async () => (await here.handle({ id: 0, ...req, start: next() })) as number[],
        (a, b) => [...a, ...b],
      );
      raw[`latency-${n}-${how}`] = { child: mine, inProcess: inProc };
      p50.set(n, [pct(mine, 50), pct(inProc, 50)]);
      rows.push({
        scenario: `${n === 0 ? 'memo hit (N = 0)' : `${n}-task chain`}, submitted as ${how}: submit → end p50`,
        ours: ms(pct(mine, 50)),
        peer: ms(pct(inProc, 50)),
        ratio: lowerIsBetter(pct(mine, 50), pct(inProc, 50)),
        note: `${RUNS} runs`,
      });
    }
    const slope = (i: 0 | 1): number => (p50.get(10)![i] - p50.get(1)![i]) / 9;
    rows.push({
      scenario: `marginal chain step p50 (slope N = 1 → 10), as ${how}`,
      ours: ms(slope(0)),
      peer: ms(slope(1)),
      ratio: lowerIsBetter(slope(0), slope(1)),
    });
    for (const c of CONCURRENCY) {
      const req = { cmd: 'throughput', rsc, n: 1, c, seconds: SECONDS, json } as const;
      const [mine, inProc] = await both(
        async () => (await child.request<Throughput>({ ...req, start: next() })).result,
        async () => (await here.handle({ id: 0, ...req, start: next() })) as Throughput,
        (a, b) => ({ workflows: a.workflows + b.workflows, seconds: a.seconds + b.seconds }),
      );
      const [a, b] = [mine.workflows / mine.seconds, inProc.workflows / inProc.seconds];
      raw[`throughput-${c}-${how}`] = { child: mine, inProcess: inProc };
      rows.push({
        scenario: `steps/s, ${c} single-step workflows in flight, as ${how}`,
        ours: rate(a, '/s'),
        peer: rate(b, '/s'),
        ratio: higherIsBetter(a, b),
      });
    }
  }
} finally {
  await child.close();
  await closeHere();
}

printTable(TITLE, 'in process', rows);
console.log(`results: ${writeResults('gap', { title: TITLE, peer: 'in process', rows, raw })}`);
rmSync(root, { recursive: true, force: true });
