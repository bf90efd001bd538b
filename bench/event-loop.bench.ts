// Event-loop lag while a wide workflow runs: N independent tasks submitted at once on the
// embedded file log, with a 10 ms interval timer beside them recording the gap between its
// ticks. A gap far above 10 ms is time when no timer fired and no I/O was served (heartbeats,
// deadlines, the API). Printed beside the floor measured in the same run: the same timer in the
// same process, node started and idle.
//
//   node bench/event-loop.bench.ts [--tasks 20000] [--runs 3] [--fsync batch,none]
//                                  [--baseline DIR]
//
// Each measurement is a child process (one workflow per process); the figures are the median of
// the runs. `--baseline DIR` runs the same children on the engine of another checkout of this
// repository (e.g. `git archive main | tar -x -C DIR`, with a `node_modules` link), alternating
// with this one, and prints both columns.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FsyncPolicy } from '../streams/file/file-log.ts';
import type * as FileLog from '../streams/file/index.ts';
import type * as Engine from '../processors/engine/node.ts';
import type * as Model from '../schemas/model.ts';
import type * as Runner from '../test/harness/core-runner.ts';
import type { IpldValue } from '../schemas/ipld.ts';
import {
  arg,
  flag,
  lowerIsBetter,
  ms,
  pct,
  printTable,
  writeResults,
  type Row,
} from './lib/report.ts';

const TICK_MS = 10;

/** What one child measured. */
interface Lag {
  seconds: number;
  ticks: number;
  worstMs: number;
  p99Ms: number;
  idleWorstMs: number;
}

if (flag('child')) await child();
else await parent();

async function child(): Promise<void> {
  const root = resolve(arg('root', join(import.meta.dirname, '..')));
  const at = (p: string): string => pathToFileURL(join(root, p)).href;
  const { createFileLog } = (await import(at('streams/file/index.ts'))) as typeof FileLog;
  const { createNode } = (await import(at('processors/engine/node.ts'))) as typeof Engine;
  const { parseWorkflow } = (await import(at('schemas/model.ts'))) as typeof Model;
  const { createCoreRunner } = (await import(at('test/harness/core-runner.ts'))) as typeof Runner;
  const n = Number(arg('tasks', '20000'));
  const fsync = arg('fsync', 'batch') as FsyncPolicy;

  const dir = await mkdtemp(join(tmpdir(), 'ipvm-lag-'));
  const log = createFileLog({ dir, fsync });
  const runner = await createCoreRunner();
  const node = await createNode({ log, runner, concurrency: 16 });
  const probe = (): { stop(): number[] } => {
    const gaps: number[] = [];
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
    }, TICK_MS);
    return {
      stop() {
        clearInterval(timer);
        gaps.push(performance.now() - last);
        return gaps;
      },
    };
  };
  // The floor: the same timer with the node idle.
  const idle = probe();
  await new Promise((r) => setTimeout(r, 500));
  const idleGaps = idle.stop();

  const tasks: IpldValue[] = [];
  for (let i = 0; i < n; i++) {
    tasks.push({
      run: { rsc: runner.rsc, op: 'wasm/run', input: { func: 'add_one', args: [i] }, nnc: '' },
      cause: null,
      meta: {},
      prf: [],
    });
  }
  const parsed = parseWorkflow({ tasks });
  const busy = probe();
  const started = performance.now();
  await node.submit(parsed);
  const end = await node.ended(parsed.cid);
  const seconds = (performance.now() - started) / 1000;
  const gaps = busy.stop();
  if (end.type !== 'workflow/completed') throw new Error(`workflow ended ${end.type}`);
  await node.close();
  await log.close();
  await rm(dir, { recursive: true, force: true });
  const lag: Lag = {
    seconds,
    ticks: gaps.length,
    worstMs: Math.max(...gaps),
    p99Ms: pct(gaps, 99),
    idleWorstMs: Math.max(...idleGaps),
  };
  process.stdout.write(`${JSON.stringify(lag)}\n`);
}

function runChild(root: string, tasks: string, fsync: string): Promise<Lag> {
  return new Promise((done, fail) => {
    const args = [
      import.meta.filename,
      '--child',
      '--root',
      root,
      '--tasks',
      tasks,
      '--fsync',
      fsync,
    ];
    const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.on('error', fail);
    p.on('exit', (code) => {
      if (code !== 0) fail(new Error(`child (${root}, fsync ${fsync}) exited ${code}`));
      else done(JSON.parse(out.trim().split('\n').at(-1)!) as Lag);
    });
  });
}

async function parent(): Promise<void> {
  const tasks = arg('tasks', '20000');
  const runs = Number(arg('runs', '3'));
  const policies = arg('fsync', 'batch,none').split(',');
  const here = join(import.meta.dirname, '..');
  const baselineArg = arg('baseline', '');
  const baseline = baselineArg === '' ? undefined : resolve(baselineArg);
  const median = (xs: number[]): number => pct(xs, 50);
  const rows: Row[] = [];
  const raw: Record<string, { ours: Lag[]; baseline: Lag[] }> = {};
  for (const fsync of policies) {
    const ours: Lag[] = [];
    const base: Lag[] = [];
    for (let i = 0; i < runs; i++) {
      // Alternated, so load on the machine falls on both sides alike.
      if (baseline !== undefined && i % 2 === 1) base.push(await runChild(baseline, tasks, fsync));
      ours.push(await runChild(here, tasks, fsync));
      if (baseline !== undefined && i % 2 === 0) base.push(await runChild(baseline, tasks, fsync));
    }
    raw[fsync] = { ours, baseline: base };
    const m = (xs: Lag[], k: keyof Lag): number => median(xs.map((x) => x[k]));
    const peer = (k: keyof Lag): string =>
      baseline === undefined ? ms(m(ours, 'idleWorstMs')) : ms(m(base, k));
    rows.push(
      {
        scenario: `${tasks} tasks, fsync ${fsync}: worst gap`,
        ours: ms(m(ours, 'worstMs')),
        peer: peer('worstMs'),
        ratio: baseline === undefined ? '' : lowerIsBetter(m(ours, 'worstMs'), m(base, 'worstMs')),
        note: baseline === undefined ? 'peer: worst gap idle' : '',
      },
      {
        scenario: `${tasks} tasks, fsync ${fsync}: p99 gap`,
        ours: ms(m(ours, 'p99Ms')),
        peer: baseline === undefined ? ms(TICK_MS) : ms(m(base, 'p99Ms')),
        ratio: baseline === undefined ? '' : lowerIsBetter(m(ours, 'p99Ms'), m(base, 'p99Ms')),
        note: baseline === undefined ? 'peer: the interval' : '',
      },
      {
        scenario: `${tasks} tasks, fsync ${fsync}: ticks / run time`,
        ours: `${m(ours, 'ticks')} / ${m(ours, 'seconds').toFixed(1)} s`,
        peer:
          baseline === undefined ? '' : `${m(base, 'ticks')} / ${m(base, 'seconds').toFixed(1)} s`,
        ratio: '',
      },
    );
  }
  const peerName = baseline === undefined ? 'idle' : 'baseline';
  const title = `Event-loop lag, ${TICK_MS} ms timer during a wide workflow (median of ${runs})`;
  printTable(title, peerName, rows);
  console.log(`results: ${writeResults('event-loop', { title, peer: peerName, rows, raw })}`);
}
