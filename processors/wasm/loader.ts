// Turns a module CID into a Prepared module: bytes from the content store, components
// transpiled with jco (core modules carrying component-type metadata are made components
// first), every core module instrumented, and everything compiled once per process.
// Transpiled glue and instrumented modules are kept on disk under cacheDir/<cid>/, so a restart
// skips jco and the instrumenter; compiled modules are kept in memory.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CID } from 'multiformats/cid';
import type { ContentStore } from '../content/index.ts';
import { WasmFormatError, hasComponentTypeMetadata, readCoreModule, wasmKind } from './binary.ts';
import { WasmTaskError } from './errors.ts';
import { instrumentCore, MEMORY_IMPORT, type InstrumentReport } from './instrument.ts';
import { loadJco } from './jco.ts';
import type { Prepared, PreparedComponent, PreparedCore } from './runner.ts';
import type { ExecutorProgress, ExecutorStats } from './types.ts';
import { parseWorld, type WitWorld } from './wit.ts';
import type { FuncType } from './binary.ts';

/** Bump when the on-disk layout or the instrumentation changes. */
const CACHE_VERSION = 1;
const GLUE_FILE = 'glue.mjs';

interface ComponentMeta {
  version: number;
  kind: 'component';
  files: string[];
  reports: Record<string, InstrumentReport>;
  world: WitWorld;
  imports: string[];
}
interface CoreMeta {
  version: number;
  kind: 'core';
  report: InstrumentReport;
  funcs: Record<string, FuncType>;
  imports: string[];
}
type Meta = ComponentMeta | CoreMeta;

export interface LoaderDeps {
  content: ContentStore;
  cacheDir: string;
  stats: ExecutorStats;
  onProgress?: (e: ExecutorProgress) => void;
  onBackgroundError?: (err: unknown, cid: string) => void;
  /** Prepared modules kept in memory. */
  maxModules: number;
}

export interface Loader {
  prepare(cid: CID, options?: { signal?: AbortSignal }): Promise<Prepared>;
  /** The prepared module if it is already loaded (lets the warm path skip an await). */
  ready(cid: CID): Prepared | undefined;
  /** Wait for background cache writes. */
  flush(): Promise<void>;
}

// jco's glue checks an environment variable on every call for debug logging; that lookup costs
// microseconds per call, so the cached glue has it removed.
function patchGlue(js: string): string {
  return js.replaceAll('if (!globalThis?.process?.env?.JCO_DEBUG) { return; }', 'return;');
}

function invalid(cid: string, err: unknown): WasmTaskError {
  const msg = err instanceof Error ? err.message : String(err);
  return new WasmTaskError('invalid-module', `module ${cid} is not usable: ${msg}`, {
    cid,
    cause: err,
  });
}

export function createLoader(deps: LoaderDeps): Loader {
  const memory = new Map<string, Promise<Prepared>>();
  const loaded = new Map<string, Prepared>();
  const background = new Set<Promise<void>>();

  const compile = (cid: string, bytes: Uint8Array): WebAssembly.Module => {
    try {
      const t = performance.now();
      const m = new WebAssembly.Module(bytes);
      deps.stats.compilations++;
      deps.onProgress?.({
        type: 'wasm:compiled',
        cid,
        bytes: bytes.length,
        ms: performance.now() - t,
      });
      return m;
    } catch (err) {
      throw invalid(cid, err);
    }
  };

  const instrument = (cid: string, bytes: Uint8Array): ReturnType<typeof instrumentCore> => {
    const t = performance.now();
    try {
      const out = instrumentCore(bytes);
      deps.stats.instrumentations++;
      deps.onProgress?.({ type: 'wasm:instrumented', cid, ms: performance.now() - t });
      return out;
    } catch (err) {
      if (err instanceof WasmFormatError) throw invalid(cid, err);
      throw err;
    }
  };

  const writeDir = async (
    dir: string,
    files: Record<string, Uint8Array | string>,
  ): Promise<void> => {
    const tmp = `${dir}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await mkdir(tmp, { recursive: true });
    try {
      for (const [name, data] of Object.entries(files)) await writeFile(join(tmp, name), data);
      await rename(tmp, dir).catch((err: unknown) => {
        // another process won the race: its copy is identical
        if (!existsSync(join(dir, 'meta.json'))) throw err;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  };

  const fromDisk = async (cid: string, dir: string): Promise<Prepared | undefined> => {
    let meta: Meta;
    try {
      meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as Meta;
    } catch {
      return undefined;
    }
    if (meta.version !== CACHE_VERSION) return undefined;
    deps.onProgress?.({ type: 'wasm:loaded-from-disk', cid });
    if (meta.kind === 'core') {
      const bytes = new Uint8Array(await readFile(join(dir, 'module.wasm')));
      const p: PreparedCore = {
        kind: 'core',
        cid,
        module: compile(cid, bytes),
        report: meta.report,
        funcs: meta.funcs,
        imports: meta.imports,
      };
      return p;
    }
    const modules: Record<string, WebAssembly.Module> = {};
    for (const f of meta.files)
      modules[f] = compile(cid, new Uint8Array(await readFile(join(dir, f))));
    return {
      kind: 'component',
      cid,
      gluePath: join(dir, GLUE_FILE),
      modules,
      reports: meta.reports,
      world: meta.world,
      imports: meta.imports,
    };
  };

  const prepareCore = (cid: string, dir: string, bytes: Uint8Array): PreparedCore => {
    let info;
    try {
      info = readCoreModule(bytes);
    } catch (err) {
      throw invalid(cid, err);
    }
    const { bytes: instrumented, report } = instrument(cid, bytes);
    const funcs: Record<string, FuncType> = {};
    for (const [name, index] of info.funcExports) {
      const t = info.types[info.funcTypes[index]!];
      if (t) funcs[name] = t;
    }
    const imports = info.imports.map((i) => `${i.module}#${i.name}`);
    const module = compile(cid, instrumented);
    const meta: CoreMeta = { version: CACHE_VERSION, kind: 'core', report, funcs, imports };
    // The disk copy only saves a restart's work: write it off the task's path.
    const write = writeDir(dir, { 'module.wasm': instrumented, 'meta.json': JSON.stringify(meta) })
      .catch((err: unknown) => deps.onBackgroundError?.(err, cid))
      .finally(() => background.delete(write));
    background.add(write);
    return { kind: 'core', cid, module, report, funcs, imports };
  };

  const prepareComponent = async (
    cid: string,
    dir: string,
    bytes: Uint8Array,
  ): Promise<PreparedComponent> => {
    const jco = await loadJco();
    const t = performance.now();
    let out: Awaited<ReturnType<typeof jco.transpile>>;
    let wit: string;
    try {
      out = await jco.transpile(bytes, {
        name: 'component',
        instantiation: 'async',
        noTypescript: true,
        base64Cutoff: 0,
      });
      wit = await jco.componentWit(bytes);
    } catch (err) {
      throw invalid(cid, err);
    }
    deps.stats.transpilations++;
    deps.onProgress?.({ type: 'wasm:transpiled', cid, ms: performance.now() - t });
    let world: WitWorld;
    try {
      world = parseWorld(wit);
    } catch (err) {
      throw invalid(cid, err);
    }
    const files: Record<string, Uint8Array | string> = {};
    const reports: Record<string, InstrumentReport> = {};
    const modules: Record<string, WebAssembly.Module> = {};
    const wasmFiles: string[] = [];
    for (const [name, data] of Object.entries(out.files)) {
      if (name.endsWith('.wasm')) {
        const { bytes: instrumented, report } = instrument(cid, new Uint8Array(data));
        files[name] = instrumented;
        reports[name] = report;
        modules[name] = compile(cid, instrumented);
        wasmFiles.push(name);
      } else if (name === 'component.js') {
        files[GLUE_FILE] = patchGlue(new TextDecoder().decode(data));
      }
    }
    if (!files[GLUE_FILE]) throw invalid(cid, new Error('jco produced no glue'));
    const meta: ComponentMeta = {
      version: CACHE_VERSION,
      kind: 'component',
      files: wasmFiles,
      reports,
      world,
      imports: out.imports,
    };
    files['meta.json'] = JSON.stringify(meta);
    // The glue must be on disk before it can be imported, so this write is awaited.
    await writeDir(dir, files);
    return {
      kind: 'component',
      cid,
      gluePath: join(dir, GLUE_FILE),
      modules,
      reports,
      world,
      imports: out.imports,
    };
  };

  const load = async (cid: CID, signal?: AbortSignal): Promise<Prepared> => {
    const key = cid.toString();
    const dir = join(deps.cacheDir, key);
    // A damaged cache entry is removed and rebuilt rather than failing the task.
    const cached = await fromDisk(key, dir).catch(async () => {
      await rm(dir, { recursive: true, force: true });
      return undefined;
    });
    if (cached) return cached;
    let bytes = await deps.content.get(cid, { signal });
    let kind = wasmKind(bytes);
    if (kind === undefined) throw invalid(key, new Error('not WebAssembly'));
    if (kind === 'core' && hasComponentTypeMetadata(bytes)) {
      // Homestar componentizes such modules on load; so do we.
      try {
        const jco = await loadJco();
        bytes = await jco.componentNew(bytes);
      } catch (err) {
        throw invalid(key, err);
      }
      kind = 'component';
    }
    await mkdir(deps.cacheDir, { recursive: true });
    return kind === 'component' ? prepareComponent(key, dir, bytes) : prepareCore(key, dir, bytes);
  };

  return {
    prepare(cid, options = {}) {
      const key = cid.toString();
      let p = memory.get(key);
      if (!p) {
        p = load(cid, options.signal);
        memory.set(key, p);
        // Bounded: the least recently loaded modules are dropped (reloaded from disk if needed).
        while (memory.size > deps.maxModules) {
          const oldest = memory.keys().next().value!;
          memory.delete(oldest);
          loaded.delete(oldest);
        }
        p.then(
          (prepared) => {
            if (memory.get(key) === p) loaded.set(key, prepared);
          },
          () => {},
        );
        // Only deterministic outcomes stay cached: a missing block may arrive later.
        p.catch((err: unknown) => {
          if (!(err instanceof WasmTaskError)) memory.delete(key);
        });
      }
      return p;
    },
    ready: (cid) => loaded.get(cid.toString()),
    async flush() {
      await Promise.all([...background]);
    },
  };
}

export { MEMORY_IMPORT };
