// The example component (`npm run examples`, built from WAT) that the side-by-side benches run,
// built into a fresh temporary root that each bench also uses for its own data.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FsyncPolicy } from '../../streams/file/index.ts';
import { smallFileCid } from '../peers/kubo-stand-in.ts';

/** The built module and where it lives. */
export interface ExampleModule {
  /** A new temporary directory for the bench (the build went to `root/build`). */
  root: string;
  wasmFile: string;
  wasm: Uint8Array;
  /** Its UnixFS CID, as `ipfs add --cid-version=1` prints it. */
  cid: string;
  /** `ipfs://<cid>`. */
  rsc: string;
}

/** Builds the examples into a temporary directory named after `bench`. */
export async function buildExampleModule(bench: string): Promise<ExampleModule> {
  const root = mkdtempSync(join(tmpdir(), `ipvm-bench-${bench}-`));
  const examples = join(import.meta.dirname, '..', '..', 'examples');
  execFileSync(process.execPath, [join(examples, 'build.ts'), '--data-dir', join(root, 'build')], {
    stdio: 'ignore',
  });
  const wasmFile = join(examples, 'wasm', 'out', 'math.wasm');
  const wasm = new Uint8Array(readFileSync(wasmFile));
  const cid = await smallFileCid(wasm);
  return { root, wasmFile, wasm, cid, rsc: `ipfs://${cid}` };
}

/** `--fsync batch|none|MS` as the file log's policy. */
export function fsyncPolicy(value: string): FsyncPolicy {
  return value === 'batch' ? 'batch' : value === 'none' ? 'none' : { intervalMs: Number(value) };
}
