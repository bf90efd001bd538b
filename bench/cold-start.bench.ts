// Cold start: the first task on a module this node has never seen, and the first task of a
// second process over the same data directory (module caches on disk), each in a fresh node
// child (lib/our-node-child.ts) — beside, in the same run, the same node with every component
// through jco (`glueFree: false`, the path every component took before) and the floors.
//
//   node bench/cold-start.bench.ts [--runs 5] [--fsync batch|none] [--compiled]
//
// Times are measured inside the child from submit to the workflow's end (its receipt durable),
// after the node is up; "node up" is fork → ready, measured here.
import { closeSync, fdatasyncSync, openSync, rmSync } from 'node:fs';
import { writeFileSync, writeSync } from 'node:fs';
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { readSimpleComponent } from '../processors/wasm/component.ts';
import { startOurNode, type RanWorkflow } from './lib/our-node-protocol.ts';
import { chain } from './lib/workflows.ts';
import {
  arg,
  lowerIsBetter,
  mib,
  ms,
  pct,
  printTable,
  writeResults,
  type Row,
} from './lib/report.ts';
import { buildExampleModule } from './lib/example-module.ts';

const RUNS = Number(arg('runs', '5'));
const FSYNC = arg('fsync', 'batch');
const TITLE = `this node — cold start on the example component (file log, fsync ${FSYNC})`;

const { root, wasm, wasmFile, rsc } = await buildExampleModule('cold');

const med = (xs: number[]): number => pct(xs, 50);

/** One child: fork → ready, then one fresh add_one task. */
async function firstTask(
  dataDir: string,
  glueFree: boolean,
  x: number,
): Promise<{ upMs: number; taskMs: number; cpuMs: number; peakRss: number }> {
  const t = performance.now();
  const child = await startOurNode({ wasm: [wasmFile], fsync: FSYNC, dataDir, glueFree });
  const upMs = performance.now() - t;
  try {
    const { result, peakRss } = await child.request<RanWorkflow[]>({
      cmd: 'run',
      workflows: [chain(rsc, 1, x).json],
    });
    const r = result[0]!;
    if (r.status !== 'workflow/completed') throw new Error(`workflow ${r.cid} failed`);
    return { upMs, taskMs: r.ms, cpuMs: r.cpuMs ?? NaN, peakRss };
  } finally {
    await child.close();
  }
}

/**
 * Floors: an empty child's fork → ready (JavaScript: the node child's own sources come stripped
 * from the cache, cli/ts-cache.js), a durable append, V8 on the module's core.
 */
async function emptyChildUp(): Promise<number> {
  const file = join(root, 'empty-child.mjs');
  writeFileSync(file, "process.send?.('ready');\nprocess.disconnect?.();\n");
  const t = performance.now();
  const c = fork(file, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise((resolve) => c.once('message', resolve));
  const ms = performance.now() - t;
  await new Promise((resolve) => c.once('exit', resolve));
  return ms;
}
function durableAppend(): number {
  const fd = openSync(join(root, 'fsync-probe'), 'w');
  const buf = Buffer.alloc(256, 1);
  const t = performance.now();
  writeSync(fd, buf);
  fdatasyncSync(fd);
  const ms = performance.now() - t;
  closeSync(fd);
  return ms;
}
function v8Core(): number {
  const core = readSimpleComponent(wasm)!.core;
  const t = performance.now();
  const m = new WebAssembly.Module(core);
  const i = new WebAssembly.Instance(m);
  (i.exports['add-one'] as (x: number) => number)(1);
  return performance.now() - t;
}

const s = {
  jco: [] as number[],
  jcoCpu: [] as number[],
  freeCpu: [] as number[],
  secondCpu: [] as number[],
  jcoRss: [] as number[],
  free: [] as number[],
  freeRss: [] as number[],
  second: [] as number[],
  secondRss: [] as number[],
  up: [] as number[],
  upSecond: [] as number[],
  emptyUp: [] as number[],
  append: [] as number[],
  v8: [] as number[],
};
try {
  let x = 1;
  for (let k = 0; k < RUNS; k++) {
    const viaJco = await firstTask(join(root, `jco-${k}`), false, (x += 1000));
    s.jco.push(viaJco.taskMs);
    s.jcoCpu.push(viaJco.cpuMs);
    s.jcoRss.push(viaJco.peakRss);
    const dir = join(root, `free-${k}`);
    const cold = await firstTask(dir, true, (x += 1000));
    s.free.push(cold.taskMs);
    s.freeCpu.push(cold.cpuMs);
    s.freeRss.push(cold.peakRss);
    s.up.push(cold.upMs);
    const second = await firstTask(dir, true, (x += 1000));
    s.second.push(second.taskMs);
    s.secondCpu.push(second.cpuMs);
    s.secondRss.push(second.peakRss);
    s.upSecond.push(second.upMs);
    s.emptyUp.push(await emptyChildUp());
    s.append.push(durableAppend());
    s.v8.push(v8Core());
  }
} finally {
  // children are closed by firstTask
}

const floor = med(s.append) + med(s.v8);
const floorNote = `floor: durable append ${ms(med(s.append))} + V8 compile/instantiate/call ${ms(med(s.v8))}`;
const rows: Row[] = [
  {
    scenario: 'first task on a never-seen module (this node vs all through jco)',
    ours: ms(med(s.free)),
    peer: ms(med(s.jco)),
    ratio: lowerIsBetter(med(s.free), med(s.jco)),
    note: `median of ${RUNS} fresh processes`,
  },
  {
    scenario: '— CPU time of that first task (this node vs all through jco)',
    ours: ms(med(s.freeCpu)),
    peer: ms(med(s.jcoCpu)),
    ratio: lowerIsBetter(med(s.freeCpu), med(s.jcoCpu)),
    note: 'the child process, user + system',
  },
  {
    scenario: 'first task on a never-seen module vs the floor',
    ours: ms(med(s.free)),
    peer: ms(floor),
    ratio: lowerIsBetter(med(s.free), floor),
    note: floorNote,
  },
  {
    scenario: 'second process on a module seen before: node up → first receipt',
    ours: ms(med(s.second)),
    peer: ms(floor),
    ratio: lowerIsBetter(med(s.second), floor),
    note: 'module caches on disk; the task is new (not memoized)',
  },
  {
    scenario: '— CPU time of that first receipt',
    ours: ms(med(s.secondCpu)),
    peer: ms(floor),
    ratio: lowerIsBetter(med(s.secondCpu), floor),
  },
  {
    scenario: 'process start: fork → node up (vs an empty child)',
    ours: ms(med(s.upSecond)),
    peer: ms(med(s.emptyUp)),
    ratio: lowerIsBetter(med(s.upSecond), med(s.emptyUp)),
    note: `first start ${ms(med(s.up))}`,
  },
  {
    scenario: 'peak RSS after the first task (this node vs all through jco)',
    ours: mib(med(s.freeRss)),
    peer: mib(med(s.jcoRss)),
    ratio: lowerIsBetter(med(s.freeRss), med(s.jcoRss)),
    note: `second process ${mib(med(s.secondRss))}`,
  },
];

printTable(TITLE, 'peer / floor', rows);
console.log(
  `results: ${writeResults('cold', { title: TITLE, peer: 'floor / jco path', rows, raw: s })}`,
);
rmSync(root, { recursive: true, force: true });
