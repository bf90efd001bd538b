// Runs a prepared module on the current thread: instantiate with the task's memory limit,
// set the fuel budget, call, and classify what happened. Used both inline and inside workers;
// everything it receives and returns is structured-cloneable.
import { pathToFileURL } from 'node:url';
import { WasmTaskError, type WasmFailureKind } from './errors.ts';
import { hostImports, strictImports, type GuestLog } from './host.ts';
import {
  FUEL_EXPORT,
  GROW_FAILED_EXPORT,
  MEMORY_IMPORT,
  type InstrumentReport,
} from './instrument.ts';
import type { FuncType } from './binary.ts';
import type { WitWorld } from './wit.ts';

export interface PreparedComponent {
  kind: 'component';
  cid: string;
  /** Absolute path of jco's transpiled glue (ESM). */
  gluePath: string;
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

/** Per-thread state: loaded glue modules. */
export interface Runner {
  run(task: RunTask): Promise<RunOutcome>;
}

export function createRunner(): Runner {
  const glues = new Map<string, Promise<Glue>>();
  const loadGlue = (path: string): Promise<Glue> => {
    let g = glues.get(path);
    if (!g) {
      g = import(pathToFileURL(path).href) as Promise<Glue>;
      glues.set(path, g);
    }
    return g;
  };

  return {
    async run(task) {
      const logs: GuestLog[] = [];
      const metered: WebAssembly.Exports[] = [];
      const budget = BigInt.asIntN(64, task.fuel);

      const instantiateCore = (
        module: WebAssembly.Module,
        imports: WebAssembly.Imports,
        report: InstrumentReport | undefined,
      ): WebAssembly.Instance => {
        let imp = imports;
        if (report?.memory) {
          const maximum = Math.min(report.memory.maximumPages ?? MAX_PAGES, task.memoryPages);
          if (report.memory.initialPages > maximum) {
            throw new WasmTaskError(
              'memory',
              `memory limit exceeded: the module starts with ${report.memory.initialPages * 64} KiB, the limit is ${task.memoryPages * 64} KiB`,
            );
          }
          const memory = new WebAssembly.Memory({ initial: report.memory.initialPages, maximum });
          imp = { ...imports, [MEMORY_IMPORT.module]: { [MEMORY_IMPORT.name]: memory } };
        }
        const instance = new WebAssembly.Instance(module, imp);
        if (report) {
          (instance.exports[FUEL_EXPORT] as WebAssembly.Global).value = budget;
          metered.push(instance.exports);
        }
        return instance;
      };

      const fuelUsed = (): { used: bigint; exhausted: boolean } => {
        let used = 0n;
        let exhausted = false;
        for (const e of metered) {
          const left = (e[FUEL_EXPORT] as WebAssembly.Global).value as bigint;
          if (left < 0n) exhausted = true;
          used += left < 0n ? budget : budget - left;
        }
        // Several core instances meter separately; their sum is what the task used.
        if (used > budget) exhausted = true;
        return { used: exhausted ? budget : used, exhausted };
      };
      const growFailed = (): boolean =>
        metered.some((e) => (e[GROW_FAILED_EXPORT] as WebAssembly.Global).value === 1);

      const outcome = (ok: boolean, value: unknown, err?: unknown): RunOutcome => {
        const { used, exhausted } = fuelUsed();
        const grew = growFailed();
        if (ok && !exhausted) return { ok, value, fuel: used, logs, growFailed: grew };
        return {
          ok: false,
          error: classify(err, exhausted, grew, task),
          fuel: used,
          logs,
          growFailed: grew,
        };
      };

      try {
        if (task.prepared.kind === 'core') {
          const prepared = task.prepared;
          const instance = instantiateCore(prepared.module, {}, prepared.report);
          const fn = instance.exports[task.exportName] as (...a: unknown[]) => unknown;
          return outcome(true, fn(...task.args));
        }
        const prepared = task.prepared;
        const glue = await loadGlue(prepared.gluePath);
        const host = strictImports(
          hostImports({ epochMs: task.epochMs, log: (e) => logs.push(e) }),
        );
        const root = await glue.instantiate(
          (name) => {
            const m = prepared.modules[name];
            if (!m)
              throw new WasmTaskError(
                'invalid-module',
                `component asks for unknown core module ${name}`,
              );
            return m;
          },
          host,
          (module, imports) => instantiateCore(module, imports, reportOf(prepared, module)),
        );
        const fn = root[task.exportName];
        if (typeof fn !== 'function') {
          throw new WasmTaskError('missing-export', `export ${task.exportName} not found`);
        }
        try {
          const value = await fn(...task.args);
          return outcome(true, task.returnsResult ? { tag: 'ok', val: value } : value);
        } catch (err) {
          if (task.returnsResult && isComponentError(err)) {
            return outcome(true, { tag: 'err', val: err.payload });
          }
          throw err;
        }
      } catch (err) {
        return outcome(false, undefined, err);
      }
    },
  };
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
