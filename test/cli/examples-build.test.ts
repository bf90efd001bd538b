// `npm run examples` (examples/build.ts) while other programs read what it writes: many tests
// build the examples into data directories of their own, at once, and read
// examples/wasm/out/*.wasm (`ipvm add`, the benchmarks). A reader must see a whole component,
// the previous one or the new one, never a file being written.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const out = join(root, 'examples', 'wasm', 'out', 'math.wasm');
let base: string | undefined;

afterAll(async () => {
  if (base !== undefined) await rm(base, { recursive: true, force: true });
});

describe('examples/build.ts', () => {
  it('replaces its outputs whole while builds run at once and a reader reads them', async () => {
    base = await mkdtemp(join(tmpdir(), 'ipvm-examples-build-'));
    const build = (i: number): Promise<number | null> =>
      new Promise((resolve) =>
        spawn(
          process.execPath,
          [join(root, 'examples', 'build.ts'), '--data-dir', join(base!, `${i}`)],
          {
            stdio: 'ignore',
          },
        ).once('exit', resolve),
      );
    await build(0); // the output exists, at its size
    const size = readFileSync(out).length;
    let running = true;
    const builds = Promise.all([1, 2, 3].map(build)).finally(() => (running = false));
    let reads = 0;
    const torn: number[] = [];
    while (running) {
      const length = readFileSync(out).length;
      reads++;
      if (length !== size) torn.push(length);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await builds).toEqual([0, 0, 0]);
    expect(reads).toBeGreaterThan(100); // the reader did read while the builds wrote
    expect(torn).toEqual([]);
  }, 60_000);
});
