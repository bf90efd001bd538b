// `ipvm cron` as a user runs it, and `ipvm start` firing a schedule (every second, so the
// test waits a second or two, never a minute).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'cli', 'bin.js');
const ADD_ONE = join(root, 'examples', 'workflows', 'add-one.json');
const dataDir = mkdtempSync(join(tmpdir(), 'ipvm-cron-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function ipvm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, ...args, '--data-dir', dataDir], {
      cwd: root,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    return err as { code: number; stdout: string; stderr: string };
  }
}

describe('ipvm cron', () => {
  it('adds, refuses a bad pattern naming the field, a started node fires the ticks, runs lists them', async () => {
    expect((await ipvm(['cron', 'add', 'bad', '61 * * * *', ADD_ONE])).stderr).toMatch(
      /cron: bad pattern/,
    );
    expect(
      (await ipvm(['cron', 'add', 'bad', '* * * * *', ADD_ONE, '--tz', 'Mars/Base'])).code,
    ).toBe(2);
    const add = await ipvm([
      'cron',
      'add',
      'every-second',
      '* * * * * *',
      ADD_ONE,
      '--catch-up',
      'skip',
    ]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/^every-second: workflow bafyrmi\w+, next tick /);
    const list = JSON.parse((await ipvm(['cron', 'list', '--json'])).stdout) as Array<{
      name: string;
    }>;
    expect(list.map((s) => s.name)).toEqual(['every-second']);

    const child = spawn(process.execPath, [bin, 'start', '--data-dir', dataDir], { cwd: root });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no tick fired: ${stderr}`)), 30_000);
        child.stderr.on('data', () => {
          if ((stderr.match(/"tick fired"/g) ?? []).length >= 2) {
            clearTimeout(t);
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
      });
    } finally {
      child.kill('SIGINT');
      await new Promise((r) => child.once('exit', r));
    }
    const runs = JSON.parse(
      (await ipvm(['cron', 'runs', 'every-second', '--json', '--past', '30'])).stdout,
    ) as Array<{
      tick: string;
      status: string;
      workflow: string;
    }>;
    const fired = runs.filter((r) => r.status !== 'missed' && r.status !== 'next');
    expect(fired.length).toBeGreaterThanOrEqual(2);
    expect(new Set(fired.map((r) => r.workflow)).size).toBe(fired.length);
    expect((await ipvm(['cron', 'rm', 'every-second'])).code).toBe(0);
    expect((await ipvm(['cron', 'rm', 'every-second'])).stderr).toMatch(
      /no schedule named "every-second"/,
    );
  }, 60_000);
});
