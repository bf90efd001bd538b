// Builds the test components from the WAT and WIT sources beside this file: WAT → core module
// (wabt, through processors/wasm/build.ts), + WIT metadata (jco embed), → component (jco new). Outputs are cached under
// test/.cache/components keyed by a hash of the sources, so only the first run pays.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { watToCore } from '../../processors/wasm/build.ts';
import { embedWit, newComponent } from '../../processors/wasm/jco.ts';

const here = dirname(fileURLToPath(import.meta.url));
const cacheDir = join(here, '..', '.cache', 'components');

/** Components that can be built (each has `<name>.wat` and `<name>.wit`). */
export const COMPONENT_NAMES = [
  'add-one',
  'strings',
  'bytes',
  'bad-abi',
  'shapes',
  'limits',
  'unknown-import',
  'host',
  'wasi-stdout',
  'wasi-preopens',
] as const;
export type ComponentName = (typeof COMPONENT_NAMES)[number];

/** Plain core modules (WAT only). */
export const CORE_MODULE_NAMES = ['add-one-core'] as const;
export type CoreModuleName = (typeof CORE_MODULE_NAMES)[number];

function source(name: string, ext: string): string {
  return readFileSync(join(here, `${name}.${ext}`), 'utf8');
}

async function cached(key: string, make: () => Promise<Uint8Array>): Promise<Uint8Array> {
  const file = join(cacheDir, `${key}.wasm`);
  if (existsSync(file)) return new Uint8Array(readFileSync(file));
  const bytes = await make();
  mkdirSync(cacheDir, { recursive: true });
  // write-then-rename so parallel test files never read a half-written module
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
  return bytes;
}

function keyOf(kind: string, ...parts: string[]): string {
  const h = createHash('sha256').update(kind);
  for (const p of parts) h.update('\0').update(p);
  return `${kind}-${h.digest('hex').slice(0, 32)}`;
}

/** Assemble a WAT source into a core module. */
export function watToWasm(wat: string, filename = 'module.wat'): Promise<Uint8Array> {
  return watToCore(wat, filename);
}

/** The core module of a test (no component metadata). */
export function buildCoreModule(name: CoreModuleName | ComponentName): Promise<Uint8Array> {
  const wat = source(name, 'wat');
  return cached(keyOf('core', wat), () => watToWasm(wat, `${name}.wat`));
}

/** A core module carrying component-type metadata (what `jco embed` makes). */
export function buildEmbedded(name: ComponentName): Promise<Uint8Array> {
  const wat = source(name, 'wat');
  const wit = source(name, 'wit');
  return cached(keyOf('embedded', wat, wit), async () =>
    embedWit(await buildCoreModule(name), wit, name),
  );
}

/** A Wasm component built from `<name>.wat` + `<name>.wit` (`jco embed` then `jco new`). */
export function buildComponent(name: ComponentName): Promise<Uint8Array> {
  const wat = source(name, 'wat');
  const wit = source(name, 'wit');
  return cached(keyOf('component', wat, wit), async () => newComponent(await buildEmbedded(name)));
}
