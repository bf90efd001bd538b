// What of each workflow reaches V8's old space: the steps/s scenario in process (the node on
// the file log, the real executor, `c` single-step workflows kept in flight for `seconds`),
// run in a child with `--trace-gc-nvp`, whose collections are summed over the measured phase.
//
//   node bench/old-space.bench.ts [--seconds 4] [--c 64] [--runs 3]
//
// Per workflow, beside everything the workflow allocates (the same collections' `allocated`):
// - promoted: what the young generation's collections moved to the old space (it outlived two
//   of them, ~20–30 ms apart; a single-step workflow lives ~5–10 ms at 64 in flight);
// - old-space growth: the old space's growth from one scavenge to the next, the promoted bytes
//   plus what V8 allocated there outright (pretenured objects, a long-lived map's new tables);
// - the scavenges' survivors, and how many mark-compacts the phase needed.
// Then the child's peak RSS. Everything promoted is garbage a mark-compact has to find; what
// is promoted and how fast sets how far the heap grows between two, and so the RSS.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { arg, flag, machine, pct } from './lib/report.ts';

const SECONDS = Number(arg('seconds', '4'));
const C = Number(arg('c', '64'));
const RUNS = Number(arg('runs', '3'));

if (flag('child')) await child();
else await parent();

/** The measured load, in the child: markers around it on stdout for the parent. */
async function child(): Promise<void> {
  const { openInProcessNode } = await import('./lib/in-process-node.ts');
  const { buildExampleModule, fsyncPolicy } = await import('./lib/example-module.ts');
  const { root, wasm, rsc } = await buildExampleModule('old-space');
  const { driver, close } = await openInProcessNode(root, wasm, fsyncPolicy('batch'));
  const req = { id: 0, cmd: 'throughput', rsc, n: 1, c: C, json: false } as const;
  await driver.handle({ ...req, seconds: 1, start: 1 }); // warm-up
  console.log(`LOAD_START ${performance.now().toFixed(1)}`);
  const r = (await driver.handle({ ...req, seconds: SECONDS, start: 1e8 })) as {
    workflows: number;
  };
  console.log(`LOAD_END ${performance.now().toFixed(1)} ${r.workflows}`);
  console.log(`PEAK_RSS ${process.resourceUsage().maxRSS * 1024}`);
  await close();
  rmSync(root, { recursive: true, force: true });
}

interface Phase {
  workflows: number;
  seconds: number;
  allocated: number;
  promoted: number;
  growth: number;
  survived: number;
  scavenges: number;
  markCompacts: number;
  peakRss: number;
}

/** Runs the child and sums its collections between the markers. */
async function measure(): Promise<Phase> {
  const proc = spawn(
    process.execPath,
    [
      '--trace-gc-nvp',
      fileURLToPath(import.meta.url),
      '--child',
      '--seconds',
      String(SECONDS),
      '--c',
      String(C),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve) => proc.on('exit', resolve));
  if (code !== 0) throw new Error(`the child exited with ${code}`);
  const start = /LOAD_START ([\d.]+)/.exec(out);
  const end = /LOAD_END ([\d.]+) (\d+)/.exec(out);
  const rss = /PEAK_RSS (\d+)/.exec(out);
  if (start === null || end === null || rss === null) throw new Error('no markers from the child');
  const [t0, t1] = [Number(start[1]), Number(end[1])];
  const p: Phase = {
    workflows: Number(end[2]),
    seconds: (t1 - t0) / 1000,
    allocated: 0,
    promoted: 0,
    growth: 0,
    survived: 0,
    scavenges: 0,
    markCompacts: 0,
    peakRss: Number(rss[1]),
  };
  const field = (line: string, name: string): number =>
    Number(new RegExp(` ${name}=(\\d+)`).exec(line)?.[1] ?? NaN);
  let previous: { scavenge: boolean; after: number } | undefined;
  let growth = 0;
  let pairs = 0;
  for (const line of out.split('\n')) {
    const at = /\s([\d.]+) ms: pause=/.exec(line);
    const kind = / gc=(\w+) /.exec(line)?.[1];
    if (at === null || kind === undefined) continue;
    const t = Number(at[1]);
    if (t < t0 || t > t1) {
      previous = undefined;
      continue;
    }
    const after = field(line, 'total_size_after');
    p.allocated += field(line, 'allocated');
    if (kind === 's') {
      p.scavenges++;
      p.promoted += field(line, 'promoted');
      p.survived += field(line, 'new_space_survived');
      // From one scavenge to the next the young generation is as empty as it gets: what the
      // heap grew by is the old space's.
      if (previous?.scavenge === true) {
        growth += after - previous.after;
        pairs++;
      }
    } else p.markCompacts++;
    previous = { scavenge: kind === 's', after };
  }
  p.growth = pairs === 0 ? NaN : (growth * p.scavenges) / pairs;
  return p;
}

/** Runs the child `--runs` times and prints the figures per workflow. */
async function parent(): Promise<void> {
  const phases: Phase[] = [];
  for (let i = 0; i < RUNS; i++) phases.push(await measure());
  const per = (f: (p: Phase) => number): string => {
    const xs = phases.map((p) => f(p) / p.workflows);
    return `${pct(xs, 50).toFixed(0)} B (${xs.map((x) => x.toFixed(0)).join(', ')})`;
  };
  console.log(
    `\nwhat of a workflow reaches the old space: ${C} single-step workflows in flight for ${SECONDS} s, in process, ${RUNS} runs (${JSON.stringify(machine())})\n`,
  );
  console.log(
    `steps/s                          ${phases.map((p) => (p.workflows / p.seconds).toFixed(0)).join(', ')}`,
  );
  console.log(`allocated per workflow           ${per((p) => p.allocated)}`);
  console.log(`promoted per workflow            ${per((p) => p.promoted)}`);
  console.log(`old-space growth per workflow    ${per((p) => p.growth)}`);
  console.log(`scavenge survivors per workflow  ${per((p) => p.survived)}`);
  console.log(
    `scavenges / mark-compacts        ${phases.map((p) => `${p.scavenges} / ${p.markCompacts}`).join(', ')}`,
  );
  console.log(
    `peak RSS of the child            ${phases.map((p) => `${(p.peakRss / 2 ** 20).toFixed(0)} MiB`).join(', ')}`,
  );
}
