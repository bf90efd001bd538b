/**
 * The process a long-lived node runs in. Two of its settings are read only as a process starts,
 * and both cost a busy node memory it does not need:
 *
 * - **V8's young generation.** V8 allocates every new object in two semi-spaces and copies what
 *   survives a scavenge from one to the other. It starts them at 1 MiB each and doubles them
 *   whenever more bytes survived since the last growth than one holds, up to 16 MiB each: a
 *   node under any sustained load (~55 KB allocated per single-step workflow, a little of it
 *   in flight at every scavenge) reaches that within a second and keeps the 32 MiB resident
 *   while it is busy. Two 8 MiB semi-spaces (`node --max-semi-space-size=8`) are scavenged twice
 *   as often, each time over the same workflows in flight, and dead array buffers are freed
 *   sooner, since a scavenge is what finds them dead.
 * - **glibc's malloc arenas.** Each thread that allocates gets an arena of its own, up to eight
 *   per core; what V8's compiler and collector threads free in theirs stays resident.
 *   `MALLOC_ARENA_MAX=2` has them share.
 *
 * Together they took `bench/restate.bench.ts`'s node child from a peak of 139–141 MiB to
 * 121–123 MiB, for a few percent of its steps/s (bench/README.md has the runs). `ipvm start`
 * cannot choose its own command line (`npx`, a service manager), so it re-executes itself with
 * them, in place (`process.execve`: the same process ID, arguments, standard streams), before
 * it opens anything: {@link becomeLongLived}. That costs its start ~80 ms, one more Node start.
 * A flag or variable the process was started with is its operator's and is kept. The
 * benchmarks' node child, which stands for `ipvm start`, is forked with the same additions
 * ({@link longLivedAdditions}). `openNode` leaves an embedding program's process as the program
 * started it.
 *
 * @module
 */
import { ConfigError } from './config.ts';

/** The young generation `ipvm start` runs with unless told otherwise, in MiB (both semi-spaces). */
export const DEFAULT_YOUNG_GENERATION_MIB = 16;

/** The malloc arenas a long-lived node's threads share. */
export const MALLOC_ARENAS = '2';

const MIN_MIB = 2;
const MAX_MIB = 256;

/** What a young generation must be, for the error that refuses one. */
export const YOUNG_GENERATION_RULE = `--young-generation must be an even number of MiB from ${MIN_MIB} to ${MAX_MIB} (two equal semi-spaces), or 0 for V8's own choice`;

/** True for a size `ipvm start` takes: 0 (V8's own) or an even number of MiB from 2 to 256. */
export function isYoungGeneration(mib: number): boolean {
  return mib === 0 || (Number.isInteger(mib) && mib % 2 === 0 && mib >= MIN_MIB && mib <= MAX_MIB);
}

/** What a process was started with. */
export interface StartedWith {
  execArgv: readonly string[];
  env: NodeJS.ProcessEnv;
}

/** What a process adds to what it was started with: Node flags before the script, variables. */
export interface LongLivedAdditions {
  execArgv: string[];
  env: Record<string, string>;
}

const SEMI_SPACE = /^--max[-_]semi[-_]space[-_]size(?:=(\d+))?$/;

/**
 * The semi-space size, in MiB, that Node flags (`execArgv`, then `NODE_OPTIONS`) set, or
 * undefined when they set none (a flag without a number is left to Node, which refuses it).
 */
export function semiSpaceMib(started: StartedWith): number | undefined {
  const args = [...started.execArgv, ...(started.env.NODE_OPTIONS ?? '').split(/\s+/)];
  let found: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const m = SEMI_SPACE.exec(args[i]!);
    const mib = m === null ? NaN : Number(m[1] ?? args[i + 1]);
    if (Number.isFinite(mib)) found = mib;
  }
  return found;
}

/**
 * What a process started with `started` lacks to run a long-lived node with a young generation
 * of `youngMib` (0: V8's own); nothing when it has it, or was started with its own.
 * @throws ConfigError naming the value, for anything {@link isYoungGeneration} refuses
 */
export function longLivedAdditions(
  youngMib: number,
  started: StartedWith = process,
): LongLivedAdditions {
  if (!isYoungGeneration(youngMib))
    throw new ConfigError(`${YOUNG_GENERATION_RULE} (got ${youngMib})`);
  const execArgv =
    youngMib === 0 || semiSpaceMib(started) !== undefined
      ? []
      : [`--max-semi-space-size=${youngMib / 2}`];
  const env: Record<string, string> =
    started.env.MALLOC_ARENA_MAX === undefined ? { MALLOC_ARENA_MAX: MALLOC_ARENAS } : {};
  return { execArgv, env };
}

/** The young generation this process runs with, in MiB: 0 when V8 chooses. */
export function youngGenerationMib(started: StartedWith = process): number {
  const semi = semiSpaceMib(started);
  return semi === undefined ? 0 : semi * 2;
}

/**
 * Re-executes this process in place with {@link longLivedAdditions} when it lacks any: the
 * same executable, Node flags, script and arguments, plus the additions. It does not return
 * then. It returns `'as-started'` when nothing was lacking, and `'unavailable'` when the
 * platform cannot re-execute a process (Windows), which then runs as it was started.
 */
export function becomeLongLived(youngMib: number): 'as-started' | 'unavailable' {
  const add = longLivedAdditions(youngMib);
  if (add.execArgv.length === 0 && Object.keys(add.env).length === 0) return 'as-started';
  if (typeof process.execve !== 'function' || process.platform === 'win32') return 'unavailable';
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  process.execve(
    process.execPath,
    [process.execPath, ...process.execArgv, ...add.execArgv, ...process.argv.slice(1)],
    { ...env, ...add.env },
  );
  return 'unavailable';
}
