/**
 * How far a long-lived node's heap may grow before V8 collects it whole again. After each full
 * collection V8 sets the next one's trigger at the bytes that survived times a factor it picks
 * itself: up to 4 when the program allocates fast, which a node under load does (~60 KB a
 * single-step workflow, most of it gone within a few milliseconds). A node whose live heap is
 * 35 MiB then lets it reach ~140 MiB of mostly garbage, and keeps the pages while it is busy:
 * its RSS stays at that peak. A fixed factor of 2 (a growth of 100%, Go's `GOGC=100`) collects
 * more often, each time over the same live bytes: `bench/restate.bench.ts`'s node child peaked
 * at 265–297 MiB with V8's choice and 197–209 MiB with 100%, for 5–6% more CPU per step
 * (bench/README.md). The default is now 67%: with the young generation capped
 * (long-lived-process.ts) more of each workflow reaches the old space, and at 67% the same
 * child peaked at 116–119 MiB against 122–124 at 100%, for ~3% of its steps/s with 64 workflows
 * in flight and ~9% with 256. The cost grows with the live heap: one workflow of 100 000 tasks
 * (hundreds of MiB live) ran ~17% longer at 100% than with V8's choice, for ~10% less peak RSS,
 * and ~5% longer again at 67%, for ~6% less; a node running mostly such workflows is better
 * served by `0`.
 *
 * V8 has one such setting per process, so it is the process's to choose, like `compiledWhole`
 * (compiled-whole.ts): `ipvm start` sets it (`--heap-growth`), as does the benchmarks' node
 * child that stands for it; `openNode` leaves an embedding program's heap as the program set it.
 *
 * @module
 */
import { setFlagsFromString } from 'node:v8';
import { ConfigError } from './config.ts';

/** The growth `ipvm start` gives its heap unless told otherwise, in percent. */
export const DEFAULT_HEAP_GROWTH_PERCENT = 67;

/** The least growth accepted: below it a process would spend its time collecting a whole heap. */
const MIN_PERCENT = 10;
/** The most accepted (V8's own choice goes up to 300). */
const MAX_PERCENT = 1000;

/** What a growth must be, for the error that refuses one. */
export const HEAP_GROWTH_RULE = `--heap-growth must be a whole percent from ${MIN_PERCENT} to ${MAX_PERCENT}, or 0 for V8's own choice`;

/** True for a growth {@link limitHeapGrowth} takes: 0 or a whole number from 10 to 1000. */
export function isHeapGrowth(percent: number): boolean {
  return (
    percent === 0 || (Number.isInteger(percent) && percent >= MIN_PERCENT && percent <= MAX_PERCENT)
  );
}

/**
 * Sets how far the heap may grow past what survived the last full collection before the next
 * one, in percent (100: up to twice); `0` gives the choice back to V8. Takes effect at the next
 * full collection.
 * @throws ConfigError naming the value, for anything {@link isHeapGrowth} refuses
 */
export function limitHeapGrowth(percent: number): void {
  if (!isHeapGrowth(percent)) throw new ConfigError(`${HEAP_GROWTH_RULE} (got ${percent})`);
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}
