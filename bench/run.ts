// `npm run bench`: the physical floors and the side-by-side comparisons with Restate and
// Homestar, each in a process of its own, one after the other, then one combined table.
//
//   node bench/run.ts [--only floors,restate,homestar,cold,gap,replay] [--quick] [--fsync batch|none|MS]
//                     [--compiled] [--heap-growth P] [--young-generation MIB]
//
// --quick shrinks every scenario (fewer runs, shorter sweeps, N = 10 only for Homestar).
// --compiled runs the node child compiled, as the installed package runs the node
// (lib/compiled.ts), in every benchmark that forks it. --heap-growth P gives that child (and
// gap.bench.ts's own process) this heap growth instead of `ipvm start`'s; 0 leaves it to V8.
// --young-generation MIB likewise for their young generation (0: V8's own).
// Each script also prints its own table and writes bench/results/<name>-<time>.json; this one
// writes bench/results/all-<time>.json. A peer that cannot install or start is skipped with a
// message, not failed.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  arg,
  flag,
  machine,
  printTable,
  RESULTS_DIR,
  writeResults,
  type Row,
} from './lib/report.ts';

const QUICK = flag('quick');
const CHILD = ['restate', 'homestar', 'cold', 'gap'];
const ONLY = arg('only', 'floors,restate,homestar,cold,gap,replay').split(',');
const FSYNC = arg('fsync', 'batch');
const HEAP_GROWTH = arg('heap-growth', '');
const YOUNG_GENERATION = arg('young-generation', '');

/** Each step: its script, its arguments, and Node's own flags for it (`node`). */
const plan: Array<{ name: string; file: string; args: string[]; node?: string[] }> = [
  { name: 'floors', file: 'floors.bench.ts', args: QUICK ? ['--seconds', '0.5'] : [] },
  {
    name: 'restate',
    file: 'restate.bench.ts',
    args: [
      '--fsync',
      FSYNC,
      ...(QUICK ? ['--runs', '30', '--seconds', '1', '--concurrency', '1,16,64'] : []),
    ],
  },
  {
    name: 'homestar',
    file: 'homestar.bench.ts',
    args: ['--fsync', FSYNC, ...(QUICK ? ['--independent', '10', '--chains', '10'] : [])],
  },
  {
    name: 'cold',
    file: 'cold-start.bench.ts',
    args: ['--fsync', FSYNC, ...(QUICK ? ['--runs', '3'] : [])],
  },
  {
    name: 'gap',
    file: 'gap.bench.ts',
    args: [
      '--fsync',
      FSYNC,
      ...(QUICK ? ['--seconds', '1', '--runs', '20', '--warmup-seconds', '0.2'] : []),
    ],
  },
  {
    name: 'replay',
    file: 'replay.bench.ts',
    args: QUICK ? ['--workflows', '5000', '--chains', '500', '--runs', '3'] : [],
    // Each run starts on a collected heap (see replay.bench.ts).
    node: ['--expose-gc'],
  },
];

interface Result {
  name: string;
  title: string;
  peer: string;
  rows: Row[];
  skipped?: string;
  problems?: string[];
}

function newestResult(name: string, since: number): Result | undefined {
  let files: string[];
  try {
    files = readdirSync(RESULTS_DIR).filter((f) => f.startsWith(`${name}-`) && f.endsWith('.json'));
  } catch {
    return undefined;
  }
  const fresh = files.map((f) => join(RESULTS_DIR, f)).filter((f) => statSync(f).mtimeMs >= since);
  fresh.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return fresh[0] === undefined
    ? undefined
    : (JSON.parse(readFileSync(fresh[0], 'utf8')) as Result);
}

const started = Date.now();
const sections: Array<{ name: string; status: string; result?: Result }> = [];
for (const step of plan.filter((p) => ONLY.includes(p.name))) {
  const since = Date.now();
  if (flag('compiled') && CHILD.includes(step.name)) step.args.push('--compiled');
  if (HEAP_GROWTH !== '' && CHILD.includes(step.name)) step.args.push('--heap-growth', HEAP_GROWTH);
  if (YOUNG_GENERATION !== '' && CHILD.includes(step.name))
    step.args.push('--young-generation', YOUNG_GENERATION);
  console.log(
    `\n=== ${step.name}: node ${[...(step.node ?? []), `bench/${step.file}`, ...step.args].join(' ')}`,
  );
  const argv = [...(step.node ?? []), join(import.meta.dirname, step.file), ...step.args];
  const r = spawnSync(process.execPath, argv, {
    stdio: 'inherit',
  });
  const result = newestResult(step.name, since);
  const status =
    r.status === 0
      ? result?.skipped !== undefined
        ? `skipped: ${result.skipped}`
        : 'ok'
      : `failed (exit ${r.status ?? r.signal})`;
  sections.push({ name: step.name, status, result });
}

console.log(
  `\n=== all (${((Date.now() - started) / 1000).toFixed(0)} s; ${JSON.stringify(machine())})`,
);
for (const s of sections) {
  if (s.result === undefined || s.result.rows.length === 0) {
    console.log(`\n${s.name}: ${s.status}`);
    continue;
  }
  printTable(s.result.title, s.result.peer, s.result.rows);
  if (s.result.problems !== undefined && s.result.problems.length > 0)
    console.log(`DISAGREEMENT: ${s.result.problems.join('; ')}`);
}
const file = writeResults('all', {
  title: 'npm run bench',
  peer: 'several',
  rows: [],
  sections: sections.map((s) => ({
    name: s.name,
    status: s.status,
    title: s.result?.title,
    peer: s.result?.peer,
    rows: s.result?.rows ?? [],
  })),
});
console.log(`\nresults: ${file}`);
if (sections.some((s) => s.status.startsWith('failed'))) process.exitCode = 1;
