// Tables and JSON results shared by the side-by-side benchmarks: every row names a scenario,
// this node's figure, the peer's figure measured in the same run, and how many times this node
// is ahead (> 1) or behind (< 1).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import type { CommitStats } from '../../streams/log.ts';

/** One line of a comparison table. */
export interface Row {
  scenario: string;
  /** This node's figure, formatted with its unit. */
  ours: string;
  /** The peer's (or the physical floor's) figure, formatted with its unit. */
  peer: string;
  /** Factor by which this node is ahead (> 1) or behind (< 1); '' when not comparable. */
  ratio: string;
  note?: string;
}

/** Ratio for figures where lower is better (times, bytes). */
export function lowerIsBetter(ours: number, peer: number): string {
  if (!Number.isFinite(ours) || !Number.isFinite(peer) || ours <= 0) return '';
  return `${fmtRatio(peer / ours)}`;
}

/** Ratio for figures where higher is better (rates). */
export function higherIsBetter(ours: number, peer: number): string {
  if (!Number.isFinite(ours) || !Number.isFinite(peer) || peer <= 0) return '';
  return `${fmtRatio(ours / peer)}`;
}

function fmtRatio(x: number): string {
  return x >= 10 ? `${x.toFixed(0)}×` : x >= 1 ? `${x.toFixed(1)}×` : `${x.toFixed(2)}×`;
}

/** Percentile by nearest rank. */
export function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

/** Milliseconds with a precision that suits their size. */
export function ms(x: number): string {
  if (!Number.isFinite(x)) return '—';
  return x >= 100
    ? `${x.toFixed(0)} ms`
    : x >= 1
      ? `${x.toFixed(2)} ms`
      : `${(x * 1000).toFixed(0)} µs`;
}

export function rate(x: number, unit: string): string {
  if (!Number.isFinite(x)) return '—';
  return `${x >= 100 ? x.toFixed(0) : x.toFixed(2)} ${unit}`;
}

export function mib(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 2 ** 20).toFixed(0)} MiB` : '—';
}

/**
 * A log's group commits between two `Log.commitStats()` readings `seconds` apart: per second,
 * records in each, each one's sync from issued to seen, and the time from one to the next.
 */
export function commitsBetween(before: CommitStats, after: CommitStats, seconds: number): string {
  const n = after.commits - before.commits;
  const records = (after.records - before.records) / n;
  const syncMs = ((after.syncSeconds - before.syncSeconds) * 1000) / n;
  return `group commits ${(n / seconds).toFixed(0)}/s, ${records.toFixed(1)} records each, sync ${syncMs.toFixed(2)} ms each, ${((seconds * 1000) / n).toFixed(2)} ms apart`;
}

/** What the figures were measured on. */
export function machine(): Record<string, unknown> {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    load: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

/** Prints a table: scenario, this node, peer, ratio, note. */
export function printTable(title: string, peerName: string, rows: readonly Row[]): void {
  const head: Row = {
    scenario: 'scenario',
    ours: 'this node',
    peer: peerName,
    ratio: 'ratio',
    note: '',
  };
  const all = [head, ...rows];
  const w = (k: keyof Row): number => Math.max(...all.map((r) => (r[k] ?? '').length));
  const [ws, wo, wp, wr] = [w('scenario'), w('ours'), w('peer'), w('ratio')];
  console.log(`\n${title}\n`);
  for (const r of all) {
    console.log(
      `${r.scenario.padEnd(ws)}  ${r.ours.padStart(wo)}  ${r.peer.padStart(wp)}  ${r.ratio.padStart(wr)}  ${r.note ?? ''}`.trimEnd(),
    );
  }
  console.log('\nratio: how many times this node is ahead (> 1) or behind (< 1) the other column.');
}

/** The directory where results are written (gitignored). */
export const RESULTS_DIR = join(import.meta.dirname, '..', 'results');

/** Writes `bench/results/<name>-<timestamp>.json` and returns its path. */
export function writeResults(
  name: string,
  data: { title: string; peer: string; rows: Row[]; [k: string]: unknown },
): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = join(RESULTS_DIR, `${name}-${stamp}.json`);
  writeFileSync(
    file,
    JSON.stringify({ name, date: new Date().toISOString(), machine: machine(), ...data }, null, 2),
  );
  return file;
}

/** Reads `--name value` from argv. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

/** Reads `--name N` from argv as a number; undefined when absent (the callee's default). */
export function numberArg(name: string): number | undefined {
  const value = arg(name, '');
  return value === '' ? undefined : Number(value);
}

export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

/**
 * Runs `batch(runs)` unmeasured until at least `runs` runs and `seconds` have passed, so that
 * what is measured next is a warm process: this node's hot paths are optimized by V8 only after
 * some thousands of calls (about a second of memo hits), which a count alone does not reach.
 */
export async function warmUp(
  batch: (runs: number) => Promise<unknown>,
  { runs, seconds }: { runs: number; seconds: number },
): Promise<void> {
  if (runs <= 0) return;
  const t0 = performance.now();
  let done = 0;
  while (done < runs || performance.now() - t0 < seconds * 1000) {
    await batch(runs);
    done += runs;
  }
}
