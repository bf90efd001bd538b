// The task-DAG layout of `ipvm graph` and the console (processors/dag-layout.ts) against
// `@dagrejs/dagre` on the same seeded random DAGs: time to lay out and edge crossings between
// adjacent rows (the picture's readability). Dagre is only measured here, never imported by the
// node.
//
//   node bench/dag-layout.bench.ts [--tasks 1000] [--runs 5] [--seed 7]
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import dagreModule from '@dagrejs/dagre';
import { layoutDag, type LayoutTask } from '../processors/dag-layout.ts';

/** The part of dagre used here (its package points `types` at a file it does not ship). */
interface DagreGraph {
  setGraph(label: object): void;
  setDefaultEdgeLabel(label: () => object): void;
  setNode(name: string, label: { width: number; height: number }): void;
  setEdge(from: string, to: string): void;
  node(name: string): { x: number; y: number };
}
const dagre = dagreModule as unknown as {
  graphlib: { Graph: new () => DagreGraph };
  layout(graph: DagreGraph): void;
};

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '5' },
    seed: { type: 'string', default: '7' },
  },
});
const N = Number(values.tasks);
const RUNS = Number(values.runs);
let seed = Number(values.seed);
const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

/** A workflow-like DAG: each task awaits 0–3 of the 40 tasks before it. */
function randomDag(n: number): LayoutTask[] {
  return Array.from({ length: n }, (_v, i) => {
    const k = i === 0 ? 0 : Math.floor(rand() * 4);
    const parents = new Set<number>();
    for (let j = 0; j < k; j++) parents.add(Math.max(0, i - 1 - Math.floor(rand() * 40)));
    return { awaits: [...parents].map((task) => ({ task })) };
  });
}

/** Crossings among edges between rows (edges spanning rows are counted on their end rows). */
function crossings(tasks: readonly LayoutTask[], rank: number[], x: number[]): number {
  const edges: Array<[number, number, number]> = [];
  tasks.forEach((t, i) => {
    for (const a of t.awaits) edges.push([rank[i]!, x[a.task]!, x[i]!]);
  });
  let count = 0;
  for (let p = 0; p < edges.length; p++)
    for (let q = p + 1; q < edges.length; q++) {
      const [r1, a1, b1] = edges[p]!;
      const [r2, a2, b2] = edges[q]!;
      if (r1 === r2 && (a1 - a2) * (b1 - b2) < 0) count++;
    }
  return count;
}

function own(tasks: readonly LayoutTask[]): { rank: number[]; x: number[] } {
  const { layer, column } = layoutDag(tasks);
  return { rank: layer, x: column };
}

function viaDagre(tasks: readonly LayoutTask[]): { rank: number[]; x: number[] } {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: 'TB', nodesep: 36, ranksep: 64 });
  g.setDefaultEdgeLabel(() => ({}));
  tasks.forEach((_t, i) => g.setNode(String(i), { width: 210, height: 74 }));
  tasks.forEach((t, i) => t.awaits.forEach((a) => g.setEdge(String(a.task), String(i))));
  dagre.layout(g);
  const ys = tasks.map((_t, i) => g.node(String(i)).y);
  const rows = [...new Set(ys)].sort((a, b) => a - b);
  return { rank: ys.map((y) => rows.indexOf(y)), x: tasks.map((_t, i) => g.node(String(i)).x) };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `${N} tasks, ${RUNS} runs, seed ${values.seed}; ${cpus().length} cores, load ${loadavg()[0]!.toFixed(2)}`,
);
for (const [name, lay] of [
  ['own layered layout', own],
  ['@dagrejs/dagre', viaDagre],
] as const) {
  const ms: number[] = [];
  const cross: number[] = [];
  seed = Number(values.seed);
  for (let r = 0; r < RUNS; r++) {
    const tasks = randomDag(N);
    const t0 = performance.now();
    const { rank, x } = lay(tasks);
    ms.push(performance.now() - t0);
    cross.push(crossings(tasks, rank, x));
  }
  console.log(
    `${name.padEnd(20)} median ${median(ms).toFixed(1)} ms, crossings median ${median(cross)}`,
  );
}
