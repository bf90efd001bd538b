// Runs a prepared module on the current thread: instantiate with the task's memory limit,
// set the fuel budget, call, and classify what happened. Used both inline and inside workers;
// everything it receives and returns is structured-cloneable.
import { pathToFileURL } from 'node:url';
import { WasmTaskError, type WasmFailureKind } from './errors.ts';
import { hostImports, strictImports, type GuestLog } from './host.ts';
import {
  FUEL_EXPORT,
  GLOBAL_EXPORT_PREFIX,
  GROW_FAILED_EXPORT,
  MEMORY_IMPORT,
  type InstrumentReport,
} from './instrument.ts';
import type { FuncType } from './binary.ts';
import type { WitWorld } from './wit.ts';
import type { CoreLift } from './component.ts';
import { RenewingMap } from '../renewing.ts';

export interface PreparedComponent {
  kind: 'component';
  cid: string;
  /** Absolute path of jco's transpiled glue (ESM); absent for a glue-free component. */
  gluePath?: string;
  /**
   * Set for a glue-free component (one core module; scalars, strings and byte lists; see
   * component.ts): WIT export name → what it lifts. Its exports are only ever called directly.
   */
  coreExports?: Record<string, CoreLift>;
  /** Instrumented core modules by the file name the glue asks for. */
  modules: Record<string, WebAssembly.Module>;
  reports: Record<string, InstrumentReport>;
  world: WitWorld;
  /** Interfaces the component imports (as jco names them). */
  imports: string[];
}

export interface PreparedCore {
  kind: 'core';
  cid: string;
  module: WebAssembly.Module;
  report: InstrumentReport;
  /** Exported functions and their signatures. */
  funcs: Record<string, FuncType>;
  /** Imports other than the host-supplied memory, as `module#name`. */
  imports: string[];
}

export type Prepared = PreparedComponent | PreparedCore;

/** One call, with arguments already in the callee's representation. */
export interface RunTask {
  prepared: Prepared;
  /** jco's JS export name (components) or the core export name. */
  exportName: string;
  /** Whether the component function returns a WIT `result` (jco throws its `err`). */
  returnsResult: boolean;
  args: unknown[];
  fuel: bigint;
  memoryPages: number;
  epochMs: number;
  /**
   * Set when every parameter and the result are scalars (integers, floats, bool) — or, for a
   * glue-free component, also strings and byte lists: the core export is then called directly,
   * skipping jco's per-call glue (tens of microseconds per call in jco 1.x). The canonical ABI
   * for scalars is a plain value conversion; a string or byte list is copied into memory
   * `cabi_realloc` allocates, and a returned one read from the (pointer, length) pair the
   * function returns, before its post-return function runs.
   */
  direct?: DirectCall;
}

export type Scalar =
  'bool' | 's8' | 'u8' | 's16' | 'u16' | 's32' | 'u32' | 's64' | 'u64' | 'f32' | 'f64';

/** A directly callable value: a scalar, a string (JS string), a byte list (`Uint8Array`). */
export type DirectType = Scalar | 'string' | 'bytes';

export interface DirectCall {
  /** The WIT name (a core module's export name). */
  name: string;
  params: DirectType[];
  result?: DirectType;
}

/** A direct call's core function with what lowering and lifting through memory need. */
interface DirectBound {
  fn: (...a: unknown[]) => unknown;
  memory?: WebAssembly.Memory;
  realloc?: (...a: number[]) => unknown;
  postReturn?: (...a: unknown[]) => unknown;
}

const passedInMemory = (k: DirectType | undefined): boolean => k === 'string' || k === 'bytes';
const UTF8_ENCODER = new TextEncoder();
const UTF8_DECODER = new TextDecoder();

/** Copies a string or byte list into guest memory (as jco's glue does); its pointer and length. */
function lowerInMemory(
  b: DirectBound,
  kind: 'string' | 'bytes',
  v: unknown,
  index: number,
): [number, number] {
  const bytes = kind === 'bytes' ? (v as Uint8Array) : undefined;
  const s = kind === 'string' ? (v as string) : '';
  // jco passes an empty string as (1, 0) without allocating; an empty list is allocated.
  if (kind === 'string' && s.length === 0) return [1, 0];
  const len = bytes !== undefined ? bytes.byteLength : Buffer.byteLength(s, 'utf8');
  const ptr = Number(b.realloc!(0, 0, 1, len)) >>> 0;
  const memory = b.memory!.buffer;
  if (ptr + len > memory.byteLength)
    throw new WasmTaskError(
      'trap',
      `trap: cabi_realloc returned ${ptr} for ${len} bytes of args[${index}], past the end of memory (${memory.byteLength} bytes)`,
    );
  const into = new Uint8Array(memory, ptr, len);
  if (bytes !== undefined) into.set(bytes);
  else UTF8_ENCODER.encodeInto(s, into);
  return [ptr, len];
}

/** Reads a returned string or byte list through the pointer to its (pointer, length) pair. */
function liftFromMemory(b: DirectBound, kind: 'string' | 'bytes', ret: unknown): unknown {
  const memory = b.memory!.buffer;
  const at = Number(ret) >>> 0;
  if (at % 4 !== 0 || at + 8 > memory.byteLength)
    throw new WasmTaskError(
      'trap',
      `trap: the result's address ${at} is unaligned or out of bounds`,
    );
  const view = new DataView(memory);
  const ptr = view.getUint32(at, true);
  const len = view.getUint32(at + 4, true);
  if (ptr + len > memory.byteLength)
    throw new WasmTaskError(
      'trap',
      `trap: the result's ${len} bytes at ${ptr} run past the end of memory (${memory.byteLength} bytes)`,
    );
  return kind === 'bytes'
    ? new Uint8Array(memory.slice(ptr, ptr + len))
    : UTF8_DECODER.decode(new Uint8Array(memory, ptr, len));
}

/** Canonical ABI lift of a scalar from its core value. */
function liftScalar(v: unknown, k: Scalar): unknown {
  switch (k) {
    case 'bool':
      return v !== 0;
    case 's8':
      return ((v as number) << 24) >> 24;
    case 'u8':
      return (v as number) & 0xff;
    case 's16':
      return ((v as number) << 16) >> 16;
    case 'u16':
      return (v as number) & 0xffff;
    case 'u32':
      return (v as number) >>> 0;
    case 'u64':
      return BigInt.asUintN(64, v as bigint);
    default:
      return v;
  }
}

export interface RunOutcome {
  ok: boolean;
  value?: unknown;
  error?: { kind: WasmFailureKind; message: string };
  fuel: bigint;
  logs: GuestLog[];
  /** A `memory.grow` was refused during the call. */
  growFailed: boolean;
}

interface Glue {
  instantiate(
    getCoreModule: (name: string) => WebAssembly.Module,
    imports: Record<string, unknown>,
    instantiateCore: (m: WebAssembly.Module, i: WebAssembly.Imports) => WebAssembly.Instance,
  ): Promise<Record<string, (...args: unknown[]) => unknown>>;
}

const MAX_PAGES = 65536;
/** Idle instances kept per module and memory limit. */
const MAX_IDLE = 16;
/** Idle instances kept per thread in all (the least recently released modules go first). */
const MAX_IDLE_TOTAL = 256;

/** Per-thread state: loaded glue modules and reusable instances. */
export interface Runner {
  /** Synchronous when a warm instance is available, so callers can skip an await. */
  run(task: RunTask): RunOutcome | Promise<RunOutcome>;
}

/** The mutable part of a host context, rebound for every call on a reused instance. */
interface HostBinding {
  epochMs: number;
  log: (entry: GuestLog) => void;
}

/**
 * A live instance (a component's exports, or a core instance) with what it takes to put it
 * back into its just-instantiated state: the initial memory bytes and global values.
 */
interface Warm {
  call: Record<string, unknown>;
  metered: WebAssembly.Exports[];
  memories: { memory: WebAssembly.Memory; snapshot: Uint8Array }[];
  globals: { global: WebAssembly.Global; value: unknown }[];
  resettable: boolean;
  host: HostBinding;
  /** Core exports found for direct calls (null: not usable, use the glue). */
  direct: Map<string, DirectBound | null>;
}

export function createRunner(): Runner {
  const glues = new Map<string, Promise<Glue>>();
  const idle = new RenewingMap<string, Warm[]>();
  const loadGlue = (path: string): Promise<Glue> => {
    let g = glues.get(path);
    if (!g) {
      g = import(pathToFileURL(path).href) as Promise<Glue>;
      glues.set(path, g);
    }
    return g;
  };

  const instantiate = async (task: RunTask): Promise<Warm> => {
    const metered: WebAssembly.Exports[] = [];
    const memories: Warm['memories'] = [];
    const host: HostBinding = { epochMs: task.epochMs, log: () => {} };
    let resettable = true;

    const instantiateCore = (
      module: WebAssembly.Module,
      imports: WebAssembly.Imports,
      report: InstrumentReport | undefined,
    ): WebAssembly.Instance => {
      let imp = imports;
      let memory: WebAssembly.Memory | undefined;
      if (report?.memory) {
        const maximum = Math.min(report.memory.maximumPages ?? MAX_PAGES, task.memoryPages);
        if (report.memory.initialPages > maximum) {
          throw new WasmTaskError(
            'memory',
            `memory limit exceeded: the module starts with ${report.memory.initialPages * 64} KiB, the limit is ${task.memoryPages * 64} KiB`,
          );
        }
        memory = new WebAssembly.Memory({ initial: report.memory.initialPages, maximum });
        imp = { ...imports, [MEMORY_IMPORT.module]: { [MEMORY_IMPORT.name]: memory } };
      }
      const instance = new WebAssembly.Instance(module, imp);
      if (report) {
        metered.push(instance.exports);
        if (!report.resettable) resettable = false;
      } else resettable = false;
      if (memory) memories.push({ memory, snapshot: new Uint8Array(0) });
      return instance;
    };

    let call: Record<string, unknown>;
    if (task.prepared.kind === 'core') {
      call = instantiateCore(task.prepared.module, {}, task.prepared.report).exports;
    } else if (task.prepared.gluePath === undefined) {
      const [module, ...rest] = Object.values(task.prepared.modules);
      if (!module || rest.length > 0)
        throw new WasmTaskError('invalid-module', 'a glue-free component has one core module');
      call = {};
      instantiateCore(module, {}, reportOf(task.prepared, module));
    } else {
      const prepared = task.prepared;
      const glue = await loadGlue(task.prepared.gluePath);
      const imports = strictImports(
        hostImports({
          get epochMs() {
            return host.epochMs;
          },
          log: (e) => host.log(e),
        }),
      );
      call = await glue.instantiate(
        (name) => {
          const m = prepared.modules[name];
          if (!m)
            throw new WasmTaskError(
              'invalid-module',
              `component asks for unknown core module ${name}`,
            );
          return m;
        },
        imports,
        (module, imp) => instantiateCore(module, imp, reportOf(prepared, module)),
      );
    }
    // Snapshot the just-instantiated state so the instance can be reset after a clean call.
    const globals: Warm['globals'] = [];
    for (const e of metered) {
      for (const [name, v] of Object.entries(e)) {
        if (name.startsWith(GLOBAL_EXPORT_PREFIX)) {
          const global = v as WebAssembly.Global;
          globals.push({ global, value: global.value });
        }
      }
    }
    for (const m of memories) m.snapshot = new Uint8Array(m.memory.buffer).slice();
    return { call, metered, memories, globals, resettable, host, direct: new Map() };
  };

  /** Put a warm instance back to its initial state; false when that is impossible. */
  const reset = (w: Warm): boolean => {
    if (!w.resettable) return false;
    for (const m of w.memories) {
      // memory cannot shrink: an instance whose memory grew is dropped
      if (m.memory.buffer.byteLength !== m.snapshot.byteLength) return false;
    }
    for (const m of w.memories) new Uint8Array(m.memory.buffer).set(m.snapshot);
    for (const g of w.globals) g.global.value = g.value;
    for (const e of w.metered) (e[GROW_FAILED_EXPORT] as WebAssembly.Global).value = 0;
    return true;
  };

  let idleTotal = 0;
  const release = (key: string, warm: Warm): void => {
    if (!reset(warm)) return;
    let list = idle.get(key);
    if (list)
      idle.delete(key); // re-inserted below: the Map's order is the recency order
    else list = [];
    idle.set(key, list);
    if (list.length >= MAX_IDLE) return;
    list.push(warm);
    idleTotal++;
    while (idleTotal > MAX_IDLE_TOTAL) {
      const [oldest, instances] = idle.entries().next().value!;
      idle.delete(oldest);
      idleTotal -= instances.length;
    }
  };
  const take = (key: string): Warm | undefined => {
    const w = idle.get(key)?.pop();
    if (w) idleTotal--;
    return w;
  };

  /**
   * Call the export on a warm instance. Synchronous for synchronous exports, so that concurrent
   * tasks on one thread never interleave between taking an instance and giving it back.
   */
  const call = (
    key: string,
    warm: Warm | undefined,
    task: RunTask,
    instantiateError?: unknown,
  ): RunOutcome | Promise<RunOutcome> => {
    const logs: GuestLog[] = [];
    const budget = BigInt.asIntN(64, task.fuel);
    const metered = warm?.metered ?? [];

    const finish = (ok: boolean, value: unknown, err?: unknown): RunOutcome => {
      let used = 0n;
      let exhausted = false;
      let grew = false;
      for (const e of metered) {
        const left = (e[FUEL_EXPORT] as WebAssembly.Global).value as bigint;
        if (left < 0n) exhausted = true;
        used += left < 0n ? budget : budget - left;
        if ((e[GROW_FAILED_EXPORT] as WebAssembly.Global).value === 1) grew = true;
      }
      // Several core instances meter separately; their sum is what the task used.
      if (used > budget) exhausted = true;
      if (exhausted) used = budget;
      if (warm) warm.host.log = () => {};
      if (ok && !exhausted) {
        // Only an instance that returned normally is reused; after a trap it is dropped.
        if (warm && !grew) release(key, warm);
        return { ok, value, fuel: used, logs, growFailed: grew };
      }
      return {
        ok: false,
        error: classify(err, exhausted, grew, task),
        fuel: used,
        logs,
        growFailed: grew,
      };
    };

    if (!warm) return finish(false, undefined, instantiateError);
    warm.host.epochMs = task.epochMs;
    warm.host.log = (e) => logs.push(e);
    for (const e of metered) (e[FUEL_EXPORT] as WebAssembly.Global).value = budget;
    if (task.direct) {
      const d = task.direct;
      let bound = warm.direct.get(d.name);
      if (bound === undefined) {
        bound = bindDirect(task.prepared, d, metered);
        warm.direct.set(d.name, bound);
      }
      if (bound) {
        let value: unknown;
        try {
          const args: unknown[] = [];
          for (let i = 0; i < d.params.length; i++) {
            const k = d.params[i]!;
            const a = task.args[i];
            if (k === 'string' || k === 'bytes') args.push(...lowerInMemory(bound, k, a, i));
            else args.push(k === 'bool' ? (a ? 1 : 0) : a);
          }
          const ret = bound.fn(...args);
          const r = d.result;
          if (r === undefined) value = undefined;
          else if (r === 'string' || r === 'bytes') value = liftFromMemory(bound, r, ret);
          else value = liftScalar(ret, r);
          if (bound.postReturn) {
            if (r === undefined) bound.postReturn();
            else bound.postReturn(ret);
          }
        } catch (err) {
          return finish(false, undefined, err);
        }
        return finish(true, value);
      }
    }
    const fn = warm.call[task.exportName];
    if (typeof fn !== 'function') {
      return finish(
        false,
        undefined,
        new WasmTaskError('missing-export', `export ${task.exportName} not found`),
      );
    }
    const settle = (value: unknown): RunOutcome =>
      finish(true, task.returnsResult ? { tag: 'ok', val: value } : value);
    const fail = (err: unknown): RunOutcome => {
      if (task.returnsResult && isComponentError(err))
        return finish(true, { tag: 'err', val: err.payload });
      return finish(false, undefined, err);
    };
    let value: unknown;
    try {
      value = (fn as (...a: unknown[]) => unknown)(...task.args);
    } catch (err) {
      return fail(err);
    }
    if (value instanceof Promise) return value.then(settle, fail);
    return settle(value);
  };

  return {
    run(task) {
      const key = `${task.prepared.cid}\u0000${task.memoryPages}`;
      const warm = take(key);
      if (warm) return call(key, warm, task);
      return instantiate(task).then(
        (w) => call(key, w, task),
        (err: unknown) => call(key, undefined, task, err),
      );
    },
  };
}

/** The core function (and memory, realloc, post-return) of a direct call; null if absent. */
function bindDirect(
  p: Prepared,
  d: DirectCall,
  metered: WebAssembly.Exports[],
): DirectBound | null {
  const lift: CoreLift = (p.kind === 'component' ? p.coreExports?.[d.name] : undefined) ?? {
    func: d.name,
  };
  const arity = d.params.reduce((n, k) => n + (passedInMemory(k) ? 2 : 1), 0);
  const memoryUsed = passedInMemory(d.result) || d.params.some(passedInMemory);
  for (const e of metered) {
    const fn = e[lift.func];
    if (typeof fn !== 'function' || fn.length !== arity) continue;
    const bound: DirectBound = { fn: fn as DirectBound['fn'] };
    if (lift.memory !== undefined) {
      const memory = e[lift.memory];
      if (memory instanceof WebAssembly.Memory) bound.memory = memory;
    }
    if (lift.realloc !== undefined) bound.realloc = e[lift.realloc] as DirectBound['realloc'];
    if (lift.postReturn !== undefined)
      bound.postReturn = e[lift.postReturn] as DirectBound['postReturn'];
    if (memoryUsed && bound.memory === undefined) return null;
    if (d.params.some(passedInMemory) && typeof bound.realloc !== 'function') return null;
    if (lift.postReturn !== undefined && typeof bound.postReturn !== 'function') return null;
    return bound;
  }
  return null;
}

const reportMaps = new WeakMap<PreparedComponent, Map<WebAssembly.Module, InstrumentReport>>();
function reportOf(p: PreparedComponent, m: WebAssembly.Module): InstrumentReport | undefined {
  let map = reportMaps.get(p);
  if (!map) {
    map = new Map();
    for (const [name, mod] of Object.entries(p.modules)) {
      const r = p.reports[name];
      if (r) map.set(mod, r);
    }
    reportMaps.set(p, map);
  }
  return map.get(m);
}

function isComponentError(err: unknown): err is { payload: unknown } {
  return err instanceof Error && err.constructor.name === 'ComponentError' && 'payload' in err;
}

function classify(
  err: unknown,
  fuelExhausted: boolean,
  growFailed: boolean,
  task: RunTask,
): { kind: WasmFailureKind; message: string } {
  if (fuelExhausted)
    return { kind: 'fuel', message: `fuel limit exceeded: ${task.fuel} units used` };
  if (err instanceof WasmTaskError) return { kind: err.kind, message: err.message };
  const detail = err instanceof Error ? err.message : String(err);
  if (growFailed) {
    return {
      kind: 'memory',
      message: `memory limit exceeded: growing past ${task.memoryPages * 64} KiB was refused (${detail})`,
    };
  }
  if (err instanceof WebAssembly.LinkError) return { kind: 'unknown-import', message: detail };
  return { kind: 'trap', message: `trap: ${detail}` };
}
