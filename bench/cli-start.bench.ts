// CLI start-up: `ipvm --help` and `ipvm status --help` as a user runs them (a fresh process
// each time, cli/bin.js on this Node), beside an empty TypeScript child of the same Node as the
// floor (type stripping alone) and `node -e 0`. The target is output within 0.3 s.
//
//   node bench/cli-start.bench.ts [--runs 15]
//
// Runs alternate between the commands (A B C A B C …) so a load change hits all of them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, lowerIsBetter, ms, pct, printTable, writeResults, type Row } from './lib/report.ts';

const RUNS = Number(arg('runs', '15'));
const root = join(import.meta.dirname, '..');
const bin = join(root, 'cli', 'bin.js');
const scratch = mkdtempSync(join(tmpdir(), 'ipvm-cli-start-'));
const emptyTs = join(scratch, 'empty.ts');
writeFileSync(emptyTs, 'export {};\n');

const commands: Record<string, string[]> = {
  'ipvm --help': [bin, '--help'],
  'ipvm status --help': [bin, 'status', '--help'],
  'empty .ts child': [emptyTs],
  'node -e 0': ['-e', '0'],
};
const times: Record<string, number[]> = Object.fromEntries(
  Object.keys(commands).map((k) => [k, []]),
);
try {
  for (let r = 0; r <= RUNS; r++) {
    for (const [name, args] of Object.entries(commands)) {
      const t = performance.now();
      const out = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
      const elapsed = performance.now() - t;
      if (out.status !== 0) throw new Error(`${name} exited ${out.status}: ${out.stderr}`);
      if (r > 0) times[name]!.push(elapsed); // the first round warms the disk and compile caches
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const med = (name: string): number => pct(times[name]!, 50);
const floor = med('empty .ts child');
const rows: Row[] = ['ipvm --help', 'ipvm status --help'].map((name) => ({
  scenario: `${name}: spawn → exit, median of ${RUNS}`,
  ours: ms(med(name)),
  peer: ms(floor),
  ratio: lowerIsBetter(med(name), floor),
  note: `p90 ${ms(pct(times[name]!, 90))}; node -e 0: ${ms(med('node -e 0'))}`,
}));
const title = `CLI start-up on Node ${process.versions.node} (target ≤ 300 ms)`;
printTable(title, 'empty .ts child', rows);
writeResults('cli-start', { title, peer: 'empty .ts child', rows, times });
