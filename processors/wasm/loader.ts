// Turns a module CID into a Prepared module: bytes from the content store, components
// transpiled with jco (core modules carrying component-type metadata are made components
// first), every core module instrumented, and everything compiled once per process.
// Transpiled glue and instrumented modules are kept on disk under cacheDir/<cid>/, so a restart
// skips jco and the instrumenter; compiled modules are kept in memory. A disk entry is trusted
// only if its key (CID, layout, instrumenter and jco versions) matches and every file's hash
// matches its meta.json; anything else is removed and rebuilt.
// Components of the simplest shape (component.ts) skip jco altogether.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CID } from 'multiformats/cid';
import type { ContentStore } from '../content/index.ts';
import { WasmFormatError, hasComponentTypeMetadata, readCoreModule, wasmKind } from './binary.ts';
import { WasmTaskError } from './errors.ts';
import { inMemory, readSimpleComponent, type CoreLift, type SimpleComponent } from './component.ts';
import {
  instrumentCore,
  INSTRUMENT_VERSION,
  MEMORY_IMPORT,
  type InstrumentReport,
} from './instrument.ts';
import { componentNewInJcoThread, jcoVersion, transpileInJcoThread } from './jco.ts';
import type { Prepared, PreparedComponent, PreparedCore } from './runner.ts';
import type { ExecutorProgress, ExecutorStats } from './types.ts';
import { parseWorld, type WitType, type WitWorld } from './wit.ts';
import type { FuncType } from './binary.ts';

/** The canonical ABI's limit on flattened parameters (beyond it they are passed in memory). */
const MAX_FLAT_PARAMS = 16;

/** Bump when the on-disk layout changes. */
const CACHE_VERSION = 3;
const GLUE_FILE = 'glue.mjs';
const CORE_FILE = 'module.wasm';

/** What a cache entry was built by and for; all of it must match for the entry to be used. */
interface CacheKey {
  version: number;
  cid: string;
  instrumenter: number;
  /** jco's version, for entries holding jco's glue. */
  jco?: string;
  /** sha-256 (hex) of every file of the entry but meta.json. */
  sha256: Record<string, string>;
}
interface ComponentMeta extends CacheKey {
  kind: 'component';
  files: string[];
  reports: Record<string, InstrumentReport>;
  world: WitWorld;
  imports: string[];
  /** Set for glue-free components (component.ts): WIT export → what it lifts. */
  coreExports?: Record<string, CoreLift>;
}
interface CoreMeta extends CacheKey {
  kind: 'core';
  report: InstrumentReport;
  funcs: Record<string, FuncType>;
  imports: string[];
}
type Meta = ComponentMeta | CoreMeta;

/** Raised when a disk cache entry cannot be trusted; the entry is then rebuilt. */
class StaleCacheError extends Error {
  override name = 'StaleCacheError';
}

const sha256 = (data: Uint8Array | string): string =>
  createHash('sha256').update(data).digest('hex');

function hashes(files: Record<string, Uint8Array | string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, data] of Object.entries(files)) out[name] = sha256(data);
  return out;
}

/** The core value types a WIT value flattens to (a string or a byte list: pointer, length). */
function coreTypesOf(t: WitType): string[] {
  if (inMemory(t)) return ['i32', 'i32'];
  if (t.kind === 's64' || t.kind === 'u64') return ['i64'];
  if (t.kind === 'f32' || t.kind === 'f64') return [t.kind];
  return ['i32'];
}

export interface LoaderDeps {
  content: ContentStore;
  cacheDir: string;
  stats: ExecutorStats;
  onProgress?: (e: ExecutorProgress) => void;
  onBackgroundError?: (err: unknown, cid: string) => void;
  /** Prepared modules kept in memory. */
  maxModules: number;
  /** Run simple components without jco (component.ts). */
  glueFree: boolean;
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
  /** Cache writes in flight by CID: a reload waits for its module's write. */
  const writing = new Map<string, Promise<void>>();

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

  /** A file of a cache entry, checked against the hash its meta.json recorded. */
  const readChecked = async (dir: string, meta: Meta, name: string): Promise<Uint8Array> => {
    const bytes = new Uint8Array(await readFile(join(dir, name)));
    if (meta.sha256[name] !== sha256(bytes)) throw new StaleCacheError(`${name} is damaged`);
    return bytes;
  };

  /** The entry under `dir`; undefined when there is none; StaleCacheError when it is not usable. */
  const fromDisk = async (cid: string, dir: string): Promise<Prepared | undefined> => {
    let text: string;
    try {
      text = await readFile(join(dir, 'meta.json'), 'utf8');
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT' && !existsSync(dir)) return undefined;
      throw new StaleCacheError('meta.json is missing', { cause: err });
    }
    let meta: Meta;
    try {
      meta = JSON.parse(text) as Meta;
    } catch (err) {
      throw new StaleCacheError('meta.json is damaged', { cause: err });
    }
    if (
      meta.version !== CACHE_VERSION ||
      meta.cid !== cid ||
      meta.instrumenter !== INSTRUMENT_VERSION ||
      typeof meta.sha256 !== 'object'
    )
      throw new StaleCacheError('built by another version or for another module');
    const glue = meta.kind === 'component' && meta.coreExports === undefined;
    if (meta.kind === 'component' && !glue && !deps.glueFree)
      throw new StaleCacheError('a glue-free entry, and glue-free components are off');
    if (glue && meta.jco !== jcoVersion())
      throw new StaleCacheError(`glue from jco ${meta.jco}, this is jco ${jcoVersion()}`);
    if (meta.kind === 'core') {
      const bytes = await readChecked(dir, meta, CORE_FILE);
      deps.onProgress?.({ type: 'wasm:loaded-from-disk', cid });
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
    const bytes: Record<string, Uint8Array> = {};
    for (const f of meta.files) bytes[f] = await readChecked(dir, meta, f);
    // The glue is imported by path: check it now, since an import cannot be taken back.
    if (glue) await readChecked(dir, meta, GLUE_FILE);
    deps.onProgress?.({ type: 'wasm:loaded-from-disk', cid });
    const modules: Record<string, WebAssembly.Module> = {};
    for (const f of meta.files) modules[f] = compile(cid, bytes[f]!);
    return {
      kind: 'component',
      cid,
      ...(glue ? { gluePath: join(dir, GLUE_FILE) } : { coreExports: meta.coreExports }),
      modules,
      reports: meta.reports,
      world: meta.world,
      imports: meta.imports,
    };
  };

  /** Write an entry off the task's path (the disk copy only saves a restart's work). */
  const writeInBackground = (
    cid: string,
    dir: string,
    files: Record<string, Uint8Array | string>,
  ): void => {
    const write = writeDir(dir, files)
      .catch((err: unknown) => deps.onBackgroundError?.(err, cid))
      .finally(() => {
        background.delete(write);
        if (writing.get(cid) === write) writing.delete(cid);
      });
    background.add(write);
    writing.set(cid, write);
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
    const meta: CoreMeta = {
      version: CACHE_VERSION,
      cid,
      instrumenter: INSTRUMENT_VERSION,
      sha256: hashes({ [CORE_FILE]: instrumented }),
      kind: 'core',
      report,
      funcs,
      imports,
    };
    writeInBackground(cid, dir, { [CORE_FILE]: instrumented, 'meta.json': JSON.stringify(meta) });
    return { kind: 'core', cid, module, report, funcs, imports };
  };

  /**
   * A glue-free component: its core module is run directly. Undefined when the core module's
   * exports do not have the types the lifts promise (jco then reports the module's problem).
   */
  const prepareSimple = (
    cid: string,
    dir: string,
    simple: SimpleComponent,
  ): PreparedComponent | undefined => {
    let info;
    try {
      info = readCoreModule(simple.core);
    } catch {
      return undefined;
    }
    const typeOf = (name: string | undefined): FuncType | undefined => {
      const index = name === undefined ? undefined : info.funcExports.get(name);
      return index === undefined ? undefined : info.types[info.funcTypes[index]!];
    };
    const is = (t: FuncType | undefined, params: string[], results: string[]): boolean =>
      t !== undefined && t.params.join() === params.join() && t.results.join() === results.join();
    for (const f of simple.world.exports) {
      const lift = simple.coreExports[f.name]!;
      const params = f.params.flatMap((p) => coreTypesOf(p.type));
      // A string or byte list result comes back as a pointer to its (pointer, length) pair.
      const results =
        f.result === undefined ? [] : inMemory(f.result) ? ['i32'] : coreTypesOf(f.result);
      if (params.length > MAX_FLAT_PARAMS || !is(typeOf(lift.func), params, results))
        return undefined;
      if (
        lift.realloc !== undefined &&
        !is(typeOf(lift.realloc), ['i32', 'i32', 'i32', 'i32'], ['i32'])
      )
        return undefined;
      if (lift.postReturn !== undefined && !is(typeOf(lift.postReturn), results, []))
        return undefined;
      if (lift.memory !== undefined && !info.exportNames.has(lift.memory)) return undefined;
    }
    const { bytes: instrumented, report } = instrument(cid, simple.core);
    const module = compile(cid, instrumented);
    const meta: ComponentMeta = {
      version: CACHE_VERSION,
      cid,
      instrumenter: INSTRUMENT_VERSION,
      sha256: hashes({ [CORE_FILE]: instrumented }),
      kind: 'component',
      files: [CORE_FILE],
      reports: { [CORE_FILE]: report },
      world: simple.world,
      imports: [],
      coreExports: simple.coreExports,
    };
    writeInBackground(cid, dir, { [CORE_FILE]: instrumented, 'meta.json': JSON.stringify(meta) });
    return {
      kind: 'component',
      cid,
      coreExports: simple.coreExports,
      modules: { [CORE_FILE]: module },
      reports: meta.reports,
      world: simple.world,
      imports: [],
    };
  };

  const prepareComponent = async (
    cid: string,
    dir: string,
    bytes: Uint8Array,
  ): Promise<PreparedComponent> => {
    const t = performance.now();
    let out: Awaited<ReturnType<typeof transpileInJcoThread>>;
    try {
      out = await transpileInJcoThread(bytes, {
        name: 'component',
        instantiation: 'async',
        noTypescript: true,
        base64Cutoff: 0,
      });
    } catch (err) {
      throw invalid(cid, err);
    }
    deps.stats.transpilations++;
    deps.onProgress?.({ type: 'wasm:transpiled', cid, ms: performance.now() - t });
    let world: WitWorld;
    try {
      world = parseWorld(out.wit);
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
      cid,
      instrumenter: INSTRUMENT_VERSION,
      jco: jcoVersion(),
      sha256: hashes(files),
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
    await writing.get(key);
    // A damaged or stale cache entry is removed and rebuilt rather than trusted or failing the
    // task (a compile error of a damaged module is caught here too).
    const cached = await fromDisk(key, dir).catch(async (err: unknown) => {
      deps.onProgress?.({
        type: 'wasm:cache-rejected',
        cid: key,
        reason: err instanceof Error ? err.message : String(err),
      });
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
        bytes = await componentNewInJcoThread(bytes);
      } catch (err) {
        throw invalid(key, err);
      }
      kind = 'component';
    }
    await mkdir(deps.cacheDir, { recursive: true });
    if (kind === 'core') return prepareCore(key, dir, bytes);
    const simple = deps.glueFree ? readSimpleComponent(bytes) : undefined;
    return (simple && prepareSimple(key, dir, simple)) ?? prepareComponent(key, dir, bytes);
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
