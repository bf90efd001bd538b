// The CLI as a user meets its failure paths: the README's missing-module fix, counts that add
// up, awaits nothing produces, and input that is not a workflow at all.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { createNode } from '../../processors/engine/node.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { createCoreRunner } from '../harness/core-runner.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'cli', 'bin.js');
const example = 'examples/workflows/add-one.json';
let dir: string;

async function ipvm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      cwd: root,
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-cli-reliability-'));
  // Builds examples/wasm/out/math.wasm (and stores it in a data dir this test does not use).
  await run(process.execPath, [join(root, 'examples', 'build.ts'), '--data-dir', join(dir, 'x')], {
    cwd: root,
  });
}, 120_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('ipvm run when things go wrong', () => {
  it("runs the README's missing-module fix: fail retryably, ipvm add, re-run runs the tasks", async () => {
    const data = join(dir, 'missing');
    const first = await ipvm('run', '--data-dir', data, example);
    expect(first.code).toBe(1);
    expect(first.stdout).toContain('"kind":"unavailable"');
    expect((await ipvm('add', '--data-dir', data, 'examples/wasm/out/math.wasm')).code).toBe(0);
    const second = await ipvm('run', '--json', '--data-dir', data, example);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout.trim().split('\n').at(-1)!)).toMatchObject({
      status: 'completed',
      tasks: 3,
      executed: 3,
      replayed: 0,
    });
    const status = await ipvm('status', '--json', '--data-dir', data);
    expect(JSON.parse(status.stdout)).toMatchObject([
      { status: 'completed', done: 3, errors: 0, submissions: 2 },
    ]);
  }, 240_000);

  it('counts only its own workflow, and status counts every replay', async () => {
    const data = join(dir, 'counts');
    expect((await ipvm('add', '--data-dir', data, 'examples/wasm/out/math.wasm')).code).toBe(0);
    // Another workflow left unfinished in the log (submitted, never run): the next node
    // finishes it too, but that is not this run's work.
    const other = parseWorkflow((await import('node:fs')).readFileSync(join(root, example), 'utf8'))
      .workflow as unknown as { tasks: Array<{ run: { nnc: string } }> };
    for (const t of other.tasks) t.run.nnc = 'other';
    {
      const log = createFileLog({ dir: join(data, 'log') });
      const node = await createNode({ log, runner: await createCoreRunner(), execute: false });
      await node.submit(other);
      await node.close();
      await log.close();
    }
    const first = await ipvm('run', '--json', '--data-dir', data, example);
    expect(JSON.parse(first.stdout.trim().split('\n').at(-1)!)).toMatchObject({
      tasks: 3,
      executed: 3,
      replayed: 0,
    });
    await ipvm('run', '--data-dir', data, example);
    const status = await ipvm('status', '--json', '--data-dir', data);
    const mine = (
      JSON.parse(status.stdout) as Array<{ submissions: number; replayed: number }>
    ).find((w) => w.submissions === 2);
    expect(mine?.replayed).toBe(3);
  }, 240_000);

  it('warns of an await nothing produces and bounds the wait by --await-timeout', async () => {
    const data = join(dir, 'await');
    const wf = JSON.parse((await import('node:fs')).readFileSync(join(root, example), 'utf8')) as {
      tasks: Array<{ run: { nnc: string } }>;
    };
    wf.tasks[0]!.run.nnc = 'changed'; // the others keep their old await links
    const file = join(dir, 'renonced.json');
    await writeFile(file, JSON.stringify(wf));
    const r = await ipvm('run', '--data-dir', data, '--await-timeout', '500', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /warning: tasks\[1\]\.run\.input\.args\[0\]: awaits bafyrmi\w+, which is not produced by this workflow and not in the memo/,
    );
    expect(r.stderr).toMatch(/not produced by this workflow and not in the memo after 500 ms/);
  }, 240_000);

  it('says plain text is neither JSON nor CBOR', async () => {
    const file = join(dir, 'notes.txt');
    await writeFile(file, 'hello, this is not a workflow\n');
    const r = await ipvm('run', '--data-dir', join(dir, 'text'), file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'input at byte 0: not JSON or CBOR (text beginning "hello, this is not a wor"',
    );
  }, 240_000);
});
