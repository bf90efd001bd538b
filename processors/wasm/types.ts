// The executor contract: run one exported function of a Wasm module named by CID.
import type { CID } from 'multiformats/cid';
import type { ContentStore } from '../content/index.ts';
import type { WasmFailureKind } from './errors.ts';
import type { GuestLog } from './host.ts';

/** Limits of one task (Homestar's task `meta`: `fuel`, `memory`, `time`). */
export interface ExecuteLimits {
  /**
   * Fuel units: one per function entry and one per loop iteration, counted identically on
   * every run and machine. @default {@link DEFAULT_FUEL}
   */
  fuel?: number | bigint;
  /** Maximum linear memory in bytes (rounded down to 64 KiB pages). @default {@link DEFAULT_MEMORY_BYTES} */
  memoryBytes?: number;
  /** Wall-clock budget in milliseconds; the task is hard-stopped when it runs out. @default {@link DEFAULT_TIME_MS} */
  timeMs?: number;
}

/** One `wasm/run` instruction. */
export interface ExecuteRequest {
  /** The module: a `CID`, `ipfs://<cid>`, or a CID string. */
  rsc: CID | string;
  /** Export to call; Homestar's casing fallbacks apply (`add_one` finds `add-one`). */
  func: string;
  /** Arguments as IPLD values (numbers, bigint, strings, bytes, lists, maps, null, booleans, CIDs). */
  args: unknown[];
  /** Limits; unset ones come from the executor's defaults. */
  limits?: ExecuteLimits;
  /**
   * Milliseconds since the Unix epoch reported to the guest by `get-current-time`, so runs are
   * reproducible. @default 0
   */
  epochMs?: number;
}

/** A successful call. */
export interface ExecuteSuccess {
  ok: true;
  /** The result as an IPLD value (`null` for functions without a result). */
  value: unknown;
  /** Fuel units used. */
  fuel: bigint;
  /** Wall-clock duration of the call, including loading on a cold start. */
  durationMs: number;
  /** What the guest printed or logged, in order. */
  logs: GuestLog[];
}

/** A terminal failure: deterministic, so it becomes an error receipt and is never retried. */
export interface ExecuteFailure {
  ok: false;
  error: {
    /** Which limit or rule failed. */
    kind: WasmFailureKind;
    /** Human-readable, names the limit, import, export or argument path. */
    message: string;
    /** For `'mapping'`: where (`args[1].x`). */
    path?: string;
  };
  /** Fuel units used before the failure (the whole budget for `'fuel'`). */
  fuel: bigint;
  durationMs: number;
  logs: GuestLog[];
}

export type ExecuteResult = ExecuteSuccess | ExecuteFailure;

/** Per-call options. */
export interface ExecuteOptions {
  /** Aborts the task; a task already running in a worker is stopped by terminating it. */
  signal?: AbortSignal;
}

/** Typed progress events. */
export type ExecutorProgress =
  | { type: 'wasm:transpiled'; cid: string; ms: number }
  | { type: 'wasm:instrumented'; cid: string; ms: number }
  | { type: 'wasm:compiled'; cid: string; bytes: number; ms: number }
  | { type: 'wasm:loaded-from-disk'; cid: string }
  /** A disk cache entry was damaged, stale or for another build: it is removed and rebuilt. */
  | { type: 'wasm:cache-rejected'; cid: string; reason: string }
  | { type: 'wasm:escalated'; cid: string; reason: 'fuel' | 'memory' }
  | { type: 'wasm:worker-terminated'; cid: string; reason: 'time' | 'abort' };

/** Structured logger (pino-compatible subset). */
export interface ExecutorLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Construction options of {@link createExecutor}. */
export interface ExecutorInit {
  /** Where modules are read from by CID. */
  content: ContentStore;
  /** Directory for transpiled and instrumented modules, keyed by CID (safe to share between runs). */
  cacheDir: string;
  /** Default limits for requests that leave some unset. */
  defaults?: ExecuteLimits;
  /** Worker threads for tasks that may run long. @default os.availableParallelism() */
  poolSize?: number;
  /**
   * How long a task may wait for a free worker before it fails with the retryable
   * `QueueTimeoutError` (it never ran, so it is not memoized). The time limit (`timeMs`) only
   * starts once a worker takes the task. @default {@link DEFAULT_QUEUE_TIMEOUT_MS}
   */
  queueTimeoutMs?: number;
  /**
   * Fuel a task may use on the calling thread before it is re-run in a worker with its full
   * limits (0 sends every task to the pool). @default {@link DEFAULT_INLINE_FUEL}
   */
  inlineFuel?: number;
  /** Memory a task may use on the calling thread before it is re-run in a worker. @default {@link DEFAULT_INLINE_MEMORY_BYTES} */
  inlineMemoryBytes?: number;
  /**
   * Compiled modules kept in memory; beyond it the least recently loaded are dropped and
   * recompiled from the disk cache when needed. @default {@link DEFAULT_MAX_MODULES}
   */
  maxModules?: number;
  /**
   * Run components of the simplest shape (one core module, no imports, scalar-only exports)
   * from their core module without jco. `false` transpiles every component with jco (the
   * results are the same; tests and benchmarks compare the two). @default true
   */
  glueFree?: boolean;
  /** Receives guest output (`print`, `wasi:logging`, stdout/stderr) and executor diagnostics. */
  logger?: ExecutorLogger;
  /** Progress events (cache fills, escalations, worker terminations). */
  onProgress?: (event: ExecutorProgress) => void;
}

/** Counters, mainly to prove caching. */
export interface ExecutorStats {
  /** `WebAssembly.Module`s compiled in this process. */
  compilations: number;
  /** Components transpiled with jco (cache misses on disk too). */
  transpilations: number;
  /** Core modules instrumented (cache misses on disk too). */
  instrumentations: number;
  /** Tasks finished on the calling thread. */
  inline: number;
  /** Tasks run in the worker pool. */
  pooled: number;
  /** Workers terminated to stop a task. */
  terminations: number;
  /**
   * Pool workers alive now: none until a task needs one, one while tasks come one at a time,
   * up to `poolSize` while they overlap (the extra ones leave after 30 s without work).
   */
  workers: number;
}

/**
 * Runs `wasm/run` instructions.
 *
 * @example
 * ```ts
 * await using exec = createExecutor({ content, cacheDir: '.ipvm/wasm' });
 * const r = await exec.execute({ rsc: `ipfs://${cid}`, func: 'add_one', args: [1] });
 * if (r.ok) r.value; // 2
 * ```
 */
export interface Executor {
  /**
   * Run one task. Terminal failures (trap, limit, mapping, unknown import, missing export,
   * invalid module) are returned as `{ ok: false }`.
   * @throws retryable errors (`err.retryable === true`): content missing
   *   ({@link ContentNotFoundError}), a worker lost, the executor closed.
   */
  execute(request: ExecuteRequest, options?: ExecuteOptions): Promise<ExecuteResult>;
  /** Counters of compilations, transpilations, instrumentations and where tasks ran. */
  stats(): ExecutorStats;
  /** Stop the worker pool after running tasks finish; later `execute` calls reject. */
  close(): Promise<void>;
  /** Same as {@link Executor.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}
