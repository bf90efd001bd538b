// `ipvm start --bid-window MS` as a user gives it — on the command line, in the environment or
// in ipvm.config.json: a value that is not a whole number of milliseconds ≥ 1 is a usage error
// (exit 2) naming the flag, the value and where it came from, before anything opens.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root } from './ipvm-start.ts';

const exec = promisify(execFile);
let cwd: string;

async function start(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stderr: string }> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('IPVM_')),
  );
  try {
    await exec(
      process.execPath,
      [join(root, 'cli', 'bin.js'), 'start', '--data-dir', join(cwd, 'data'), ...args],
      { cwd, env: { ...clean, ...env }, timeout: 60_000 },
    );
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'ipvm-start-options-'));
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe('ipvm start --bid-window', () => {
  it('refuses what is not a whole number of milliseconds ≥ 1, saying where it came from', async () => {
    const message = (got: string): RegExp =>
      new RegExp(
        `--bid-window must be a whole number of milliseconds, at least 1 \\(got ${got}\\)`,
      );
    for (const bad of ['0', '-5', '1.5', 'soon', '']) {
      const res = await start(['--bid-window', bad]);
      expect(res.code, bad).toBe(2);
      expect(res.stderr, bad).toMatch(message(JSON.stringify(bad)));
    }
    const fromEnv = await start([], { IPVM_BID_WINDOW: '2s' });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toMatch(message('"2s" from IPVM_BID_WINDOW'));
    await writeFile(join(cwd, 'ipvm.config.json'), JSON.stringify({ 'bid-window': 0 }));
    const fromFile = await start([]);
    expect(fromFile.code).toBe(2);
    expect(fromFile.stderr).toMatch(message('"0" from the config file'));
    // The command line wins over the file (and a good value goes through to the node: see
    // placement-start.int.test.ts); nothing was opened by the refused starts.
    const fromFlag = await start(['--bid-window', 'x']);
    expect(fromFlag.stderr).toMatch(message('"x"'));
    expect(await readdir(cwd)).toEqual(['ipvm.config.json']);
  }, 120_000);
});
