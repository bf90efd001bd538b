// createExecutor: the per-task entry point. Warm tasks take the fast path on the calling thread
// with a small fuel and memory allowance; a task that needs more is re-run from scratch in a
// worker with its full limits, where a time limit is enforced by terminating the worker. Tasks
// are pure, so the re-run produces the same result and the same fuel count.
import { availableParallelism } from 'node:os';
import type { CID } from 'multiformats/cid';
import type { Piscina } from 'piscina';
import { parseResource, InvalidResourceError } from '../content/index.ts';
import {
  ExecutorClosedError,
  WasmTaskError,
  WorkerLostError,
  ValueMappingError,
} from './errors.ts';
import { missingImports, type GuestLog } from './host.ts';
import { createLoader } from './loader.ts';
import { createWorkerGate } from './worker-gate.ts';
import { findExport, jsName } from './names.ts';
import {
  createRunner,
  type DirectCall,
  type DirectType,
  type Prepared,
  type RunOutcome,
  type RunTask,
  type Scalar,
} from './runner.ts';
import { MissingLink, liftCore, liftValue, lowerCore, lowerValue } from './values.ts';
import type { FuncType } from './binary.ts';
import type { WitFunction, WitType } from './wit.ts';

const SCALARS: ReadonlySet<string> = new Set([
  'bool',
  's8',
  'u8',
  's16',
  'u16',
  's32',
  'u32',
  's64',
  'u64',
  'f32',
  'f64',
]);
import type {
  ExecuteFailure,
  ExecuteLimits,
  ExecuteOptions,
  ExecuteRequest,
  ExecuteResult,
  Executor,
  ExecutorInit,
  ExecutorStats,
} from './types.ts';
import { sibling } from '../sibling.ts';

/** Default fuel budget: 10^10 units (instructions executed, see instrument.ts), seconds of work. */
export const DEFAULT_FUEL = 10_000_000_000n;
/** Prepared (compiled) modules kept in memory per executor. */
export const DEFAULT_MAX_MODULES = 1024;
/** Default memory limit: 4 GiB, the whole 32-bit address space (Homestar's default). */
export const DEFAULT_MEMORY_BYTES = 4 * 1024 * 1024 * 1024;
/** Default time limit: 60 s. */
export const DEFAULT_TIME_MS = 60_000;
/** Default queue timeout: 30 s waiting for a free worker, then a retryable failure. */
export const DEFAULT_QUEUE_TIMEOUT_MS = 30_000;
/** Fuel a task may use on the calling thread before it moves to a worker (≈ a millisecond or less of work). */
export const DEFAULT_INLINE_FUEL = 1_000_000;
/** Memory a task may use on the calling thread before it moves to a worker. */
export const DEFAULT_INLINE_MEMORY_BYTES = 64 * 1024 * 1024;

/** How long a worker beyond the first stays without work before it exits. */
const POOL_IDLE_MS = 30_000;

const PAGE = 65536;
const MAX_PAGES = 65536;
const MAX_LINK_ROUNDS = 64;

interface Binding {
  /**
   * The last call ran out of the inline fuel budget (or, in a worker, used more than it): the
   * next goes to a worker at once rather than spend that budget first on the calling thread.
   */
  heavy?: boolean;
  exportName: string;
  returnsResult: boolean;
  direct?: DirectCall;
  lower: (args: unknown[], link: (cid: CID) => Uint8Array | undefined) => unknown[];
  lift: (value: unknown) => unknown;
}

function toBigFuel(v: number | bigint | undefined, fallback: bigint): bigint {
  if (v === undefined) return fallback;
  if (typeof v === 'bigint') return v < 0n ? 0n : v;
  // Homestar's JSON writes u64::MAX as a float: saturate anything that large.
  if (!Number.isFinite(v) || v >= 2 ** 63) return 2n ** 63n - 1n;
  return BigInt(Math.max(0, Math.floor(v)));
}

function resolveLimits(l: ExecuteLimits | undefined, d: Required<ExecuteLimits>) {
  const fuel = toBigFuel(l?.fuel, toBigFuel(d.fuel, DEFAULT_FUEL));
  const clampedFuel = fuel > 2n ** 63n - 1n ? 2n ** 63n - 1n : fuel;
  const memoryBytes = l?.memoryBytes ?? d.memoryBytes;
  const memoryPages = Math.min(MAX_PAGES, Math.max(0, Math.floor(memoryBytes / PAGE)));
  const timeMs = Math.max(1, l?.timeMs ?? d.timeMs);
  return { fuel: clampedFuel, memoryPages, timeMs };
}

/**
 * How a component export is called directly (runner.ts), if it can be: scalars only through
 * jco's glue; scalars, strings and byte lists for a glue-free component.
 */
function directCall(name: string, fn: WitFunction, glueFree: boolean): DirectCall | undefined {
  const kind = (t: WitType): DirectType | undefined => {
    if (SCALARS.has(t.kind)) return t.kind as Scalar;
    if (!glueFree) return undefined;
    if (t.kind === 'string') return 'string';
    if (t.kind === 'list' && t.elem.kind === 'u8') return 'bytes';
    return undefined;
  };
  const params = fn.params.map((p) => kind(p.type));
  const result = fn.result === undefined ? undefined : kind(fn.result);
  if (params.some((k) => k === undefined) || (fn.result !== undefined && result === undefined))
    return undefined;
  return { name, params: params as DirectType[], ...(result ? { result } : {}) };
}

function bindComponent(
  p: Extract<Prepared, { kind: 'component' }>,
  func: string,
): Binding | ExecuteFailureError {
  const byName = new Map<string, WitFunction>(p.world.exports.map((f) => [f.name, f]));
  const witName = findExport(func, (n) => byName.has(n));
  if (witName === undefined) {
    return new ExecuteFailureError(
      'missing-export',
      `export ${JSON.stringify(func)} not found in ${p.cid}; it exports ${[...byName.keys()].join(', ') || 'nothing callable'}`,
    );
  }
  const missing = missingImports(p.imports);
  if (missing.length > 0) {
    return new ExecuteFailureError(
      'unknown-import',
      `module ${p.cid} imports ${missing.join(', ')}, which this node does not provide`,
    );
  }
  const fn = byName.get(witName)!;
  const result = fn.result;
  // built once per binding, not per call (a template string per argument per task shows up)
  const paths = fn.params.map((_, i) => `args[${i}]`);
  const direct = directCall(witName, fn, p.coreExports !== undefined);
  return {
    exportName: jsName(witName),
    returnsResult: result?.kind === 'result',
    ...(direct ? { direct } : {}),
    lower(args, link) {
      if (args.length !== fn.params.length) {
        throw new ValueMappingError(
          'args',
          `${witName} takes ${fn.params.length} arguments, got ${args.length}`,
        );
      }
      const ctx = { link };
      return fn.params.map((param, i) => lowerValue(args[i], param.type, paths[i]!, ctx));
    },
    lift: (v) => (result ? liftValue(v, result, 'result') : null),
  };
}

function bindCore(
  p: Extract<Prepared, { kind: 'core' }>,
  func: string,
): Binding | ExecuteFailureError {
  const name = findExport(func, (n) => Object.hasOwn(p.funcs, n));
  if (name === undefined) {
    return new ExecuteFailureError(
      'missing-export',
      `export ${JSON.stringify(func)} not found in ${p.cid}; it exports ${Object.keys(p.funcs).join(', ') || 'no functions'}`,
    );
  }
  if (p.imports.length > 0) {
    return new ExecuteFailureError(
      'unknown-import',
      `module ${p.cid} imports ${p.imports.join(', ')}, which this node does not provide`,
    );
  }
  const type: FuncType = p.funcs[name]!;
  return {
    exportName: name,
    returnsResult: false,
    lower(args) {
      if (args.length !== type.params.length) {
        throw new ValueMappingError(
          'args',
          `${name} takes ${type.params.length} arguments, got ${args.length}`,
        );
      }
      return type.params.map((t, i) => lowerCore(args[i], t, `args[${i}]`));
    },
    lift(v) {
      if (type.results.length === 0) return null;
      if (type.results.length === 1) return liftCore(v, type.results[0]!);
      return (v as unknown[]).map((x, i) => liftCore(x, type.results[i]!));
    },
  };
}

/** Internal: a terminal failure found before running. */
class ExecuteFailureError extends WasmTaskError {}

/**
 * Create an executor.
 *
 * @example
 * ```ts
 * await using exec = createExecutor({ content, cacheDir: join(dataDir, 'wasm') });
 * const r = await exec.execute({ rsc: cid, func: 'add_one', args: [1], limits: { fuel: 1e6 } });
 * ```
 */
export function createExecutor(init: ExecutorInit): Executor {
  const defaults: Required<ExecuteLimits> = {
    fuel: init.defaults?.fuel ?? DEFAULT_FUEL,
    memoryBytes: init.defaults?.memoryBytes ?? DEFAULT_MEMORY_BYTES,
    timeMs: init.defaults?.timeMs ?? DEFAULT_TIME_MS,
  };
  const inlineFuel = BigInt(init.inlineFuel ?? DEFAULT_INLINE_FUEL);
  const inlinePages = Math.floor((init.inlineMemoryBytes ?? DEFAULT_INLINE_MEMORY_BYTES) / PAGE);
  const poolSize = Math.max(1, init.poolSize ?? availableParallelism());
  const gate = createWorkerGate(poolSize);
  const queueTimeoutMs = init.queueTimeoutMs ?? DEFAULT_QUEUE_TIMEOUT_MS;
  const stats: ExecutorStats = {
    compilations: 0,
    transpilations: 0,
    instrumentations: 0,
    inline: 0,
    pooled: 0,
    terminations: 0,
    workers: 0,
  };
  const logger = init.logger;
  const loader = createLoader({
    content: init.content,
    cacheDir: init.cacheDir,
    stats,
    onProgress: init.onProgress,
    onBackgroundError: (err, cid) => logger?.warn({ err, cid }, 'writing the module cache failed'),
    maxModules: init.maxModules ?? DEFAULT_MAX_MODULES,
    glueFree: init.glueFree ?? true,
  });
  const runner = createRunner();
  let pool: Piscina | undefined;
  // Imported at the first task that runs off the main thread (a run from the memo runs none).
  const getPool = async (): Promise<Piscina> => {
    if (pool !== undefined) return pool;
    const { Piscina } = await import('piscina');
    // Closed while the module loaded: no pool (and no thread) after close().
    if (closed) throw new ExecutorClosedError();
    pool ??= new Piscina({
      filename: sibling(import.meta.url, './worker').href,
      // One worker at first (each is an isolate of ~20 MiB); more as tasks overlap, each
      // leaving after POOL_IDLE_MS without work. The gate above keeps at most poolSize running.
      minThreads: 1,
      maxThreads: poolSize,
      idleTimeout: POOL_IDLE_MS,
      // a task waits for a worker rather than failing
      maxQueue: 'auto',
    });
    return pool;
  };
  const rscCache = new Map<string, CID>();
  const bindings = new WeakMap<Prepared, Map<string, Binding | ExecuteFailureError>>();
  let closed = false;

  const failure = (
    err: WasmTaskError | { kind: WasmTaskError['kind']; message: string },
    t0: number,
    fuel = 0n,
    logs: GuestLog[] = [],
  ): ExecuteFailure => {
    const error: ExecuteFailure['error'] = { kind: err.kind, message: err.message };
    if (err instanceof WasmTaskError && err.path !== undefined) error.path = err.path;
    return { ok: false, error, fuel, durationMs: performance.now() - t0, logs };
  };

  const parseRsc = (rsc: CID | string): CID => {
    if (typeof rsc !== 'string') return parseResource(rsc);
    let cid = rscCache.get(rsc);
    if (!cid) {
      cid = parseResource(rsc);
      if (rscCache.size > 10_000) rscCache.clear();
      rscCache.set(rsc, cid);
    }
    return cid;
  };

  const bind = (p: Prepared, func: string): Binding | ExecuteFailureError => {
    let m = bindings.get(p);
    if (!m) {
      m = new Map();
      bindings.set(p, m);
    }
    let b = m.get(func);
    if (!b) {
      b = p.kind === 'component' ? bindComponent(p, func) : bindCore(p, func);
      m.set(func, b);
    }
    return b;
  };

  const noLinks = (): undefined => undefined;
  /** Lower arguments; synchronous unless a link's content must be fetched first. */
  const lowerArgs = (
    b: Binding,
    args: unknown[],
    signal?: AbortSignal,
  ): unknown[] | Promise<unknown[]> => {
    try {
      return b.lower(args, noLinks);
    } catch (err) {
      if (!(err instanceof MissingLink)) throw err;
      return lowerWithLinks(b, args, signal);
    }
  };
  const lowerWithLinks = async (
    b: Binding,
    args: unknown[],
    signal?: AbortSignal,
  ): Promise<unknown[]> => {
    let links: Map<string, Uint8Array> | undefined;
    for (let round = 0; ; round++) {
      try {
        return b.lower(args, (cid) => links?.get(cid.toString()));
      } catch (err) {
        if (!(err instanceof MissingLink) || round >= MAX_LINK_ROUNDS) throw err;
        links ??= new Map();
        links.set(err.cid.toString(), await init.content.get(err.cid, { signal }));
      }
    }
  };

  const runPooled = async (
    task: RunTask,
    timeMs: number,
    signal?: AbortSignal,
  ): Promise<RunOutcome | 'time'> => {
    // The time limit covers execution only: its clock starts once a worker slot is ours.
    const release = await gate.acquire(queueTimeoutMs, signal);
    // A cleared timer rather than AbortSignal.timeout: at thousands of tasks per second those
    // would pile up until their (long) deadlines.
    const deadline = new AbortController();
    const timeout = deadline.signal;
    const timer = setTimeout(() => deadline.abort(new Error(`time limit of ${timeMs} ms`)), timeMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    stats.pooled++;
    try {
      return (await (await getPool()).run(task, { signal: combined })) as RunOutcome;
    } catch (err) {
      if (signal?.aborted) {
        stats.terminations++;
        init.onProgress?.({
          type: 'wasm:worker-terminated',
          cid: task.prepared.cid,
          reason: 'abort',
        });
        throw signal.reason;
      }
      if (timeout.aborted) {
        stats.terminations++;
        init.onProgress?.({
          type: 'wasm:worker-terminated',
          cid: task.prepared.cid,
          reason: 'time',
        });
        return 'time';
      }
      if (closed) throw new ExecutorClosedError();
      throw new WorkerLostError(task.prepared.cid, { cause: err });
    } finally {
      clearTimeout(timer);
      release();
    }
  };

  const executor: Executor = {
    async execute(request: ExecuteRequest, options: ExecuteOptions = {}): Promise<ExecuteResult> {
      if (closed) throw new ExecutorClosedError();
      const t0 = performance.now();
      const { signal } = options;
      signal?.throwIfAborted();
      const limits = resolveLimits(request.limits, defaults);
      let cid: CID;
      try {
        cid = parseRsc(request.rsc);
      } catch (err) {
        if (err instanceof InvalidResourceError)
          return failure({ kind: 'invalid-module', message: err.message }, t0);
        throw err;
      }
      let prepared: Prepared;
      try {
        prepared = loader.ready(cid) ?? (await loader.prepare(cid, { signal }));
      } catch (err) {
        if (err instanceof WasmTaskError) return failure(err, t0);
        throw err;
      }
      const binding = bind(prepared, request.func);
      if (binding instanceof ExecuteFailureError) return failure(binding, t0);
      let args: unknown[];
      try {
        const lowered = lowerArgs(binding, request.args, signal);
        args = lowered instanceof Promise ? await lowered : lowered;
      } catch (err) {
        if (err instanceof WasmTaskError) return failure(err, t0);
        throw err;
      }
      const task: RunTask = {
        prepared,
        exportName: binding.exportName,
        returnsResult: binding.returnsResult,
        ...(binding.direct ? { direct: binding.direct } : {}),
        args,
        fuel: limits.fuel,
        memoryPages: limits.memoryPages,
        epochMs: request.epochMs ?? 0,
      };

      let out: RunOutcome | 'time' | undefined;
      if (inlineFuel > 0n && !(binding.heavy === true && limits.fuel > inlineFuel)) {
        const small: RunTask = {
          ...task,
          fuel: limits.fuel < inlineFuel ? limits.fuel : inlineFuel,
          memoryPages: Math.min(limits.memoryPages, inlinePages),
        };
        const started = runner.run(small);
        const first = started instanceof Promise ? await started : started;
        const fuelShort = first.error?.kind === 'fuel' && small.fuel < limits.fuel;
        const memoryShort =
          (first.growFailed || first.error?.kind === 'memory') &&
          small.memoryPages < limits.memoryPages;
        if (fuelShort) binding.heavy = true;
        if (fuelShort || memoryShort) {
          init.onProgress?.({
            type: 'wasm:escalated',
            cid: prepared.cid,
            reason: fuelShort ? 'fuel' : 'memory',
          });
        } else {
          stats.inline++;
          out = first;
        }
      }
      if (out === undefined) {
        out = await runPooled(task, limits.timeMs, signal);
        if (out !== 'time' && out.ok && out.fuel <= inlineFuel) binding.heavy = false;
      }
      if (out === 'time') {
        return failure({ kind: 'time', message: `time limit exceeded: ${limits.timeMs} ms` }, t0);
      }
      if (logger) {
        for (const l of out.logs)
          logger.info({ cid: prepared.cid, level: l.level, context: l.context }, l.message);
      }
      if (!out.ok) return failure(out.error!, t0, out.fuel, out.logs);
      let value: unknown;
      try {
        value = binding.lift(out.value);
      } catch (err) {
        if (err instanceof WasmTaskError) return failure(err, t0, out.fuel, out.logs);
        throw err;
      }
      return {
        ok: true,
        value,
        fuel: out.fuel,
        durationMs: performance.now() - t0,
        logs: out.logs,
      };
    },

    stats: () => ({ ...stats, workers: pool?.threads.length ?? 0 }),

    async close() {
      if (closed) return;
      closed = true;
      await loader.flush();
      const p = pool;
      pool = undefined;
      await p?.close();
    },

    [Symbol.asyncDispose]() {
      return executor.close();
    },
  };
  return executor;
}
