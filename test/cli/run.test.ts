// `ipvm run` as a user runs it: a spawned process on a real data directory, with the example
// component built from source by `npm run examples`.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'cli', 'bin.js');
let dataDir: string;

async function ipvm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** `ipvm sql --format json` on the test's data directory. */
async function sqlJson(query: string): Promise<unknown> {
  const res = await ipvm('sql', '--data-dir', dataDir, '--format', 'json', query);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout);
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ipvm-cli-run-'));
  await run(process.execPath, [join(root, 'examples', 'build.ts'), '--data-dir', dataDir], {
    cwd: root,
  });
}, 120_000);
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('ipvm run', () => {
  it('runs the example workflow, then re-runs it from the memo executing nothing', async () => {
    const first = await ipvm(
      'run',
      '--json',
      '--data-dir',
      dataDir,
      'examples/workflows/add-one.json',
    );
    expect(first.code, first.stderr).toBe(0);
    const lines = first.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const receipts = lines.slice(0, -1);
    expect(receipts.map((r) => r.out)).toEqual([
      ['ok', 2],
      ['ok', 3],
      ['ok', 13],
    ]);
    expect(receipts.every((r) => r.replayed === false)).toBe(true);
    expect(lines.at(-1)).toMatchObject({ status: 'completed', tasks: 3, executed: 3, replayed: 0 });

    const again = await ipvm(
      'run',
      '--json',
      '--data-dir',
      dataDir,
      'examples/workflows/add-one.json',
    );
    expect(again.code, again.stderr).toBe(0);
    const lines2 = again.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines2.at(-1)).toMatchObject({ status: 'completed', executed: 0, replayed: 3 });
    // Same receipts, same CIDs.
    expect(lines2.slice(0, -1).map((r) => r.receipt)).toEqual(receipts.map((r) => r.receipt));
  }, 60_000);

  it('exits 1 when a task traps, naming the trap and the dependent that could not run', async () => {
    const res = await ipvm('run', '--data-dir', dataDir, 'examples/workflows/divide-by-zero.json');
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/ERR divide .*divide by zero/);
    expect(res.stdout).toMatch(/ERR add_one .*await\/ok of bafyrmi\w+, which ended error/);
    expect(res.stderr).toMatch(/failed: 3 tasks/);
  }, 60_000);

  it('ipvm sql answers for everything run so far (the tables catch up from the log)', async () => {
    const rows = await sqlJson(
      "SELECT function, count() AS n, sum(replayed) AS replayed FROM receipts WHERE function IN ('add', 'add_one') GROUP BY function ORDER BY function",
    );
    // Two runs of add-one.json (three tasks: add_one, add_one, add): the second references the
    // first run's receipts and adds no rows. divide-by-zero.json's first task (add_one(1), a
    // receipt of another workflow) is replayed from the memo, and its last (add_one) failed.
    expect(rows).toEqual([
      { function: 'add', n: 1, replayed: 0 },
      { function: 'add_one', n: 4, replayed: 1 },
    ]);
  }, 120_000);

  it("the tables' fuel column holds the fuel each executed task used", async () => {
    const rows = await sqlJson(
      "SELECT function, fuel FROM receipts WHERE replayed = 0 AND outcome = 'ok' AND function IN ('add', 'add_one') GROUP BY function, fuel ORDER BY function",
    );
    // examples/wasm/add-one.wat: local.get, i32.const, i32.add and local.get, local.get, i32.add
    // (the add_one after divide-by-zero's failed divide never ran: it has no fuel and ended error)
    expect(rows).toEqual([
      { function: 'add', fuel: 3 },
      { function: 'add_one', fuel: 3 },
    ]);
  }, 120_000);

  it('ipvm replay re-verifies every receipt and rebuilds the tables to the same rows', async () => {
    const query = [
      'sql',
      '--data-dir',
      dataDir,
      '--format',
      'json',
      'SELECT receipt_cid, instruction_cid, function, outcome, output, replayed FROM receipts ORDER BY receipt_cid, replayed',
    ];
    const before = await ipvm(...query);
    expect(before.code, before.stderr).toBe(0);
    const verify = await ipvm('replay', '--verify', '--json', '--data-dir', dataDir);
    expect(verify.code, verify.stderr).toBe(0);
    const summary = JSON.parse(verify.stdout) as { verified: number; mismatches: unknown[] };
    expect(summary.verified).toBeGreaterThanOrEqual(6);
    expect(summary.mismatches).toEqual([]);
    const rebuild = await ipvm('replay', '--into', 'tables', '--data-dir', dataDir);
    expect(rebuild.code, rebuild.stderr).toBe(0);
    const after = await ipvm(...query);
    expect(JSON.parse(after.stdout)).toEqual(JSON.parse(before.stdout));
  }, 120_000);

  it('rejects a malformed workflow before starting, with the location', async () => {
    const bad = join(dataDir, 'bad.json');
    await writeFile(
      bad,
      JSON.stringify({
        tasks: [{ run: { rsc: 'ipfs://nope', op: 'wasm/run', input: { func: 'f', args: [] } } }],
      }),
    );
    const res = await ipvm('run', '--data-dir', dataDir, bad);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/tasks\[0\]\.run\.rsc: /);
  });

  it('stores a large argument once, as a block, above --large-value', async () => {
    const example = JSON.parse(
      await readFile(join(root, 'examples/workflows/add-one.json'), 'utf8'),
    ) as { tasks: Array<{ run: { input: { args: unknown[] } } }> };
    const task = example.tasks[0]!;
    task.run.input.args = ['L'.repeat(300_000)]; // not an s32: an error receipt, still recorded
    const file = join(dataDir, 'large.json');
    await writeFile(file, JSON.stringify({ tasks: [task] }));
    const bytesOf = async (dir: string, stream: string): Promise<number> => {
      let total = 0;
      const base = join(dir, 'log', `ipvm.${stream}`);
      for (const e of await readdir(base, { recursive: true, withFileTypes: true }))
        if (e.isFile() && e.name.endsWith('.log'))
          total += (await stat(join(e.parentPath, e.name))).size;
      return total;
    };
    for (const [flag, stored] of [
      ['65536', 'once'],
      ['400000', 'inline'],
    ] as const) {
      const dir = join(dataDir, `large-${flag}`);
      expect((await ipvm('add', '--data-dir', dir, 'examples/wasm/out/math.wasm')).code).toBe(0);
      const res = await ipvm('run', '--data-dir', dir, '--large-value', flag, '--json', file);
      expect(res.code).toBe(1);
      expect(res.stdout).toContain('expected s32, got \\"LLLL');
      const records = (await bytesOf(dir, 'invocations')) + (await bytesOf(dir, 'pure'));
      if (stored === 'once') {
        // The submission and the receipt link one 300 KB block (a pure task that ends at once
        // has no task/ready record: processors/engine/ready-later.ts).
        expect(await bytesOf(dir, 'blocks')).toBeGreaterThan(300_000);
        expect(await bytesOf(dir, 'blocks')).toBeLessThan(2 * 300_000);
        expect(records).toBeLessThan(50_000);
      } else {
        // Below the threshold each of the two records holds a copy.
        expect(await bytesOf(dir, 'blocks')).toBe(0);
        expect(records).toBeGreaterThan(2 * 300_000);
      }
    }
    const bad = await ipvm('run', '--data-dir', dataDir, '--large-value', '0', file);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--large-value must be a positive integer (got 0)');
  });

  it('runs a task naming this node (meta.node) and refuses, located, one naming another', async () => {
    const did = (await ipvm('id', '--data-dir', dataDir)).stdout.trim();
    expect(did).toMatch(/^did:key:z6Mk/);
    const example = JSON.parse(
      await readFile(join(root, 'examples', 'workflows', 'add-one.json'), 'utf8'),
    ) as { tasks: Array<{ meta: Record<string, unknown>; run: { input: { args: unknown[] } } }> };
    const placed = (node: string, arg: number): string => {
      const task = structuredClone(example.tasks[0]!);
      task.meta.node = node;
      task.run.input.args = [arg];
      return JSON.stringify({ tasks: [task] });
    };
    const here = join(dataDir, 'here.json');
    await writeFile(here, placed(did, 41));
    const ran = await ipvm('run', '--json', '--data-dir', dataDir, here);
    expect(ran.code, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout.trim().split('\n')[0]!)).toMatchObject({ out: ['ok', 42] });
    const there = join(dataDir, 'there.json');
    await writeFile(there, placed('did:key:z6MkElsewhere', 43));
    const refused = await ipvm('run', '--data-dir', dataDir, there);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /tasks\[0\]\.meta\.node: node: the task names did:key:z6MkElsewhere/,
    );
  });

  it('--log-level debug logs each task on stderr, JSON lines beside the receipts', async () => {
    const res = await ipvm(
      'run',
      '--log-level',
      'debug',
      '--data-dir',
      dataDir,
      'examples/workflows/divide-by-zero.json',
    );
    expect(res.code).toBe(1);
    const logs = res.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(logs.map((l) => l.msg)).toContain('recovered');
    expect(logs.every((l) => l.level >= 20)).toBe(true);
    // Nothing at info for a plain run: stderr stays the summary line.
    const quiet = await ipvm('run', '--data-dir', dataDir, 'examples/workflows/add-one.json');
    expect(quiet.stderr.trim().split('\n')).toHaveLength(1);
  }, 60_000);

  it('ends quietly when its reader goes away (ipvm run --json | head)', async () => {
    const child = spawn(
      process.execPath,
      [bin, 'run', '--json', '--data-dir', dataDir, 'examples/workflows/divide-by-zero.json'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // The reader is gone before the first receipt is printed: every write meets a closed pipe.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).not.toMatch(/EPIPE|Unhandled|at .*\.ts:\d+/);
    expect(code).toBe(141); // 128 + SIGPIPE, as a shell reports a writer whose reader left
  }, 60_000);
});
