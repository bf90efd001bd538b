// jco runs in a worker thread that exits when idle: a node that met one component needing jco's
// glue does not keep jco (its Wasm, code and heap, ≈ 60 MiB) resident for the rest of its life.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildComponent } from '../components/build.ts';

describe('the jco thread', () => {
  it('transpiles a component off the node thread, and exits when idle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipvm-jco-thread-test-'));
    try {
      const file = join(dir, 'strings.wasm');
      writeFileSync(file, await buildComponent('strings'));
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [join(import.meta.dirname, 'jco-thread.child.ts'), file],
        { timeout: 60_000 },
      );
      const report = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
      expect(report).toEqual({
        value: 'hello, thread',
        transpilations: 1,
        jcoLoadedHere: false,
        runningAfterTask: true,
        runningAtEnd: false,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
