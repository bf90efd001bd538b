// cli/ts-cache.js: the stripped JavaScript of a clone's TypeScript sources, kept between runs.
// Each case runs a real Node process (process.execPath) on a directory of its own, so the
// module hook lives and dies with that process: a tiny "clone" with a module that has types.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const TS_CACHE = new URL('../../cli/ts-cache.js', import.meta.url).href;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipvm-ts-cache-'));
  // The entry: installs the hook for this directory, then imports a module with types.
  writeFileSync(
    join(dir, 'entry.mjs'),
    `import { pathToFileURL } from 'node:url';\n` +
      `const { cacheStrippedTypeScript } = await import(${JSON.stringify(TS_CACHE)});\n` +
      `cacheStrippedTypeScript(pathToFileURL(${JSON.stringify(dir + '/')}));\n` +
      `const m = await import('./mod.ts');\n` +
      `console.log(m.value());\n`,
  );
  writeModule('first');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function writeModule(word: string): void {
  writeFileSync(
    join(dir, 'mod.ts'),
    `interface Shape {\n  word: string;\n}\n` +
      `const shape: Shape = { word: ${JSON.stringify(word)} };\n` +
      `export function value(): string {\n` +
      `  if (process.env.THROW === '1') throw new Error('thrown on line 6');\n` +
      `  return shape.word as string;\n}\n`,
  );
}

async function entry(env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [join(dir, 'entry.mjs')], { env: { ...process.env, ...env } });
}

const cached = (): string[] => {
  try {
    return readdirSync(join(dir, '.cache', 'ts'));
  } catch {
    return [];
  }
};

describe('cli/ts-cache.js', () => {
  it('keeps a module stripped once, and serves it from the cache on the next run', async () => {
    const first = await entry();
    expect(first.stdout).toBe('first\n');
    // Node's own one-time warning about stripTypeScriptTypes is not shown.
    expect(first.stderr).toBe('');
    const files = cached();
    expect(files).toHaveLength(1);
    const file = join(dir, '.cache', 'ts', files[0]!);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^\/\/ ipvm ts-cache [0-9a-f]{64}\n/);
    expect(text).not.toContain('interface Shape');

    // The next run reads the cached file (here altered behind the hash, to show it was used).
    writeFileSync(file, text.replace('word: "first"', 'word: "from the cache"'));
    expect(readFileSync(file, 'utf8')).toContain('from the cache');
    expect((await entry()).stdout).toBe('from the cache\n');
  });

  it('strips a source again once it changed, and replaces its file', async () => {
    await entry();
    writeModule('second');
    expect((await entry()).stdout).toBe('second\n');
    expect(cached()).toHaveLength(1);
    expect(readFileSync(join(dir, '.cache', 'ts', cached()[0]!), 'utf8')).toContain('second');
  });

  it("keeps the source's line numbers in stack traces, from the cache too", async () => {
    for (let k = 0; k < 2; k++) {
      const failed = await entry({ THROW: '1' }).then(
        () => undefined,
        (error: { stderr: string }) => error.stderr,
      );
      expect(failed).toMatch(/thrown on line 6/);
      expect(failed).toMatch(/mod\.ts:6:/);
    }
  });

  it('IPVM_TS_CACHE=0 strips afresh and keeps nothing', async () => {
    expect((await entry({ IPVM_TS_CACHE: '0' })).stdout).toBe('first\n');
    expect(cached()).toEqual([]);
  });
});
