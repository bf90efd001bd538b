// Builds the benchmark components from the WAT and WIT beside this file (WAT → core module with
// wabt, + WIT with jco embed, → component with jco new) through processors/wasm/build.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { coreToComponent, watToCore } from '../../processors/wasm/build.ts';

/** Components that can be built: `<name>.wat` and `<name>.wit`, world `<name>`. */
export type BenchComponent = 'image';

export async function buildBenchComponent(name: BenchComponent): Promise<Uint8Array> {
  const wat = readFileSync(join(import.meta.dirname, `${name}.wat`), 'utf8');
  const wit = readFileSync(join(import.meta.dirname, `${name}.wit`), 'utf8');
  return coreToComponent(await watToCore(wat, `${name}.wat`), wit, name);
}
