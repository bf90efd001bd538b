// Builds the benchmark components from the WAT and WIT beside this file (WAT → core module with
// wabt, + WIT with jco embed, → component with jco new), the way examples/build.ts does.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import wabtInit from 'wabt';
import { embedWit, newComponent } from '../../processors/wasm/index.ts';

/** Components that can be built: `<name>.wat` and `<name>.wit`, world `<name>`. */
export type BenchComponent = 'image';

export async function buildBenchComponent(name: BenchComponent): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const wat = readFileSync(join(import.meta.dirname, `${name}.wat`), 'utf8');
  const wit = readFileSync(join(import.meta.dirname, `${name}.wit`), 'utf8');
  const parsed = wabt.parseWat(`${name}.wat`, wat, { bulk_memory: true });
  try {
    parsed.resolveNames();
    parsed.validate();
    const core = new Uint8Array(parsed.toBinary({}).buffer);
    return await newComponent(await embedWit(core, wit, name));
  } finally {
    parsed.destroy();
  }
}
