// Building components from source: WAT → core module (wabt), core module + WIT world →
// component (jco embed + jco new), JavaScript → component (jco componentize). `ipvm build`,
// the example build and the test components all go through here.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import wabtInit from 'wabt';
import { embedWit, newComponent } from './jco.ts';

/** A source that does not build; terminal, with where it failed when the toolchain says. */
export class ComponentBuildError extends Error {
  override name = 'ComponentBuildError';
  readonly retryable = false;
  /** The file the toolchain complained about, when it said. */
  readonly file: string | undefined;
  constructor(message: string, options: { cause?: unknown; file?: string } = {}) {
    super(message, { cause: options.cause });
    this.file = options.file;
  }
}

let wabtPromise: ReturnType<typeof wabtInit> | undefined;

/**
 * Assemble WAT text into a core module (bulk memory allowed). A syntax or validation error
 * throws a {@link ComponentBuildError} whose message carries `filename:line:column`.
 */
export async function watToCore(wat: string, filename = 'module.wat'): Promise<Uint8Array> {
  wabtPromise ??= wabtInit();
  const wabt = await wabtPromise;
  let parsed: ReturnType<typeof wabt.parseWat>;
  try {
    parsed = wabt.parseWat(filename, wat, { bulk_memory: true });
  } catch (err) {
    throw new ComponentBuildError((err as Error).message.trim(), { cause: err, file: filename });
  }
  try {
    parsed.resolveNames();
    parsed.validate();
    return new Uint8Array(parsed.toBinary({}).buffer);
  } catch (err) {
    throw new ComponentBuildError((err as Error).message.trim(), { cause: err, file: filename });
  } finally {
    parsed.destroy();
  }
}

/**
 * A component from a core module whose exports follow the canonical ABI of WIT `world` in
 * `witSource` (`jco embed --wit … -n world` then `jco new`).
 */
export async function coreToComponent(
  core: Uint8Array,
  witSource: string,
  world: string,
): Promise<Uint8Array> {
  try {
    return await newComponent(await embedWit(core, witSource, world));
  } catch (err) {
    if (err instanceof ComponentBuildError) throw err;
    throw new ComponentBuildError(`componentizing against world ${world}: ${String(err)}`, {
      cause: err,
    });
  }
}

const SHIM_HINT =
  'jco cannot read the WIT file with @bytecodealliance/preview2-shim 0.26: add "overrides": ' +
  '{"@bytecodealliance/preview2-shim": "0.25.0"} to package.json and reinstall node_modules';

/** The first lines of a tool's output (its stack trace is noise to the user). */
function firstLines(text: string, n = 4): string {
  return text.split('\n').slice(0, n).join('\n');
}

/** What {@link componentizeJs} builds. */
export interface ComponentizeJsInit {
  /** The JavaScript module (ESM) exporting the world's functions. */
  source: string;
  /** The WIT file of the world. */
  wit: string;
  world: string;
  /** Where the component is written. */
  out: string;
  signal?: AbortSignal;
}

/**
 * JavaScript → component through `jco componentize` (StarlingMonkey, ~10 s, ~12 MB), with
 * WASI's http, clocks and random disabled. jco has no programmatic API for it, so its own
 * command runs. Requires `@bytecodealliance/preview2-shim` 0.25.0 (the package's override):
 * with 0.26 jco cannot read the WIT file ("os error 44"), reported here as a
 * {@link ComponentBuildError}.
 */
export async function componentizeJs(init: ComponentizeJsInit): Promise<void> {
  const jco = fileURLToPath(new URL('./jco.js', import.meta.resolve('@bytecodealliance/jco')));
  const args = [
    'componentize',
    resolve(init.source),
    '--wit',
    resolve(init.wit),
    '-n',
    init.world,
    // A node offers no wasi:http, and clocks and random only trap (tasks are deterministic):
    // without these, StarlingMonkey's event loop reads the monotonic clock on every call.
    '--disable',
    'http',
    'fetch-event',
    'clocks',
    'random',
    '-o',
    resolve(init.out),
  ];
  try {
    await promisify(execFile)(process.execPath, [jco, ...args], {
      signal: init.signal,
      maxBuffer: 16 << 20,
    });
  } catch (err) {
    if (init.signal?.aborted === true) throw err;
    const e = err as { stderr?: string; message: string };
    const text = (e.stderr || e.message).trim();
    const hint = text.includes('os error 44') ? `\n${SHIM_HINT}` : '';
    throw new ComponentBuildError(`jco componentize: ${firstLines(text)}${hint}`, {
      cause: err,
      file: init.source,
    });
  }
}
