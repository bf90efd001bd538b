// Log growth of re-runs: one data directory, `ipvm run` of the same workflow several times, the
// bytes of `<data-dir>/log` after each run. Two workflows: N independent add_one tasks, and one
// task whose argument is a large string (how many copies of it the records hold).
//
//   node bench/log-growth.bench.ts [--tasks 1000] [--runs 5] [--arg-mib 5]
//
// Sizes, not times: one process per run, as a user runs them; the first run is the floor the
// re-runs are compared with.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { arg } from './lib/report.ts';

const TASKS = Number(arg('tasks', '1000'));
const RUNS = Number(arg('runs', '5'));
const ARG_MIB = Number(arg('arg-mib', '5'));
const root = join(import.meta.dirname, '..');
const bin = join(root, 'cli', 'bin.js');
const run = promisify(execFile);

async function bytesUnder(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name))).size;
  return total;
}

async function growth(name: string, tasks: unknown[]): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ipvm-growth-'));
  try {
    const data = join(dir, 'data');
    await run(process.execPath, [bin, 'add', '--data-dir', data, 'examples/wasm/out/math.wasm'], {
      cwd: root,
    });
    const file = join(dir, 'wf.json');
    await writeFile(file, JSON.stringify({ tasks }));
    let before = 0;
    for (let i = 1; i <= RUNS; i++) {
      // A task may fail (the large argument is not a number): the run still writes its records.
      await run(process.execPath, [bin, 'run', '--data-dir', data, file], {
        cwd: root,
        maxBuffer: 1 << 30,
      }).catch(() => undefined);
      const now = await bytesUnder(join(data, 'log'));
      const label = i === 1 ? 'first run' : `re-run ${i - 1}`;
      console.log(`${name.padEnd(34)} ${label.padEnd(10)} ${String(now - before).padStart(12)} B`);
      before = now;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const example = JSON.parse(
  await readFile(join(root, 'examples/workflows/add-one.json'), 'utf8'),
) as { tasks: Array<{ run: { input: { args: unknown[] } } }> };
const task = (args: unknown[]): unknown => {
  const t = structuredClone(example.tasks[0]!);
  t.run.input.args = args;
  return t;
};
await growth(
  `${TASKS} independent add_one tasks`,
  Array.from({ length: TASKS }, (_, i) => task([i])),
);
await growth(`one task, a ${ARG_MIB} MiB argument`, [task(['x'.repeat(ARG_MIB << 20)])]);
