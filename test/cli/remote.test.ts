// The CLI against a running node, as a user runs it: `ipvm start` in the background, then
// `ipvm run`, `status`, `watch`, `sql` on the same data directory go through its API and print
// what the embedded path prints on a twin data directory; the client library (`ipvm-node/client`)
// against the same node; the discovery file's life cycle.
import { execFile, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, NodeRpcError } from 'ipvm-node/client';
import { createFileLog } from '../../streams/file/index.ts';
import { createTopology } from '../../streams/topology.ts';
import { eventRecord } from '../../processors/engine/envelope.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { startIpvmNode } from '../harness/ipvm-start.ts';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'cli', 'bin.js');
const ADD_ONE = 'examples/workflows/add-one.json';
const DIVIDE = 'examples/workflows/divide-by-zero.json';
let base: string;
let embeddedDir: string;
let nodeDir: string;
let tablesDir: string;
let node: ChildProcessWithoutNullStreams;
let url: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function ipvm(args: string[], env: Record<string, string> = {}): Promise<Result> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('IPVM_')),
  );
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, ...args], {
      cwd: root,
      env: { ...clean, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as Result;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Both paths: the embedded node on one directory, the running node on its twin. */
async function both(args: string[]): Promise<[Result, Result]> {
  return Promise.all([
    ipvm([...args, '--data-dir', embeddedDir]),
    ipvm([...args, '--data-dir', nodeDir]),
  ]);
}

/** --json receipt lines without what is measured (time), which differs run to run. */
function stable(stdout: string): unknown[] {
  return stdout
    .trim()
    .split('\n')
    .map((l) => {
      const { durationMs: _d, fuel, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return { ...rest, fuel: fuel === null ? null : 'n' };
    });
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'ipvm-cli-remote-'));
  embeddedDir = join(base, 'embedded');
  nodeDir = join(base, 'node');
  await exec(process.execPath, [join(root, 'examples', 'build.ts'), '--data-dir', embeddedDir], {
    cwd: root,
  });
  await cp(embeddedDir, nodeDir, { recursive: true });
  tablesDir = join(base, 'tables');
  await cp(embeddedDir, tablesDir, { recursive: true });
  ({ child: node, url } = await startIpvmNode(nodeDir));
}, 120_000);

afterAll(async () => {
  if (node.exitCode === null) {
    node.kill('SIGKILL');
    await new Promise((r) => node.once('exit', r));
  }
  await rm(base, { recursive: true, force: true });
});

describe('ipvm beside a running node', () => {
  it('announces the node in the data directory', async () => {
    const d = JSON.parse(await readFile(join(nodeDir, 'node.json'), 'utf8')) as {
      url: string;
      pid: number;
    };
    expect(d.url).toBe(url);
    expect(d.pid).toBe(node.pid);
  });

  it('run, status, watch and sql print what the embedded node prints, with the same exit codes', async () => {
    const [first, firstRemote] = await both(['run', ADD_ONE]);
    expect(first.code, first.stderr).toBe(0);
    expect(firstRemote.code, firstRemote.stderr).toBe(0);
    expect(firstRemote.stdout).toBe(first.stdout);
    expect(firstRemote.stderr).toBe(first.stderr);

    const [again, againRemote] = await both(['run', '--json', ADD_ONE]);
    expect(againRemote.code).toBe(0);
    expect(stable(againRemote.stdout)).toEqual(stable(again.stdout));
    expect(stable(againRemote.stdout).at(-1)).toMatchObject({ executed: 0, replayed: 3 });

    const [failed, failedRemote] = await both(['run', '--json', DIVIDE]);
    expect([failed.code, failedRemote.code]).toEqual([1, 1]);
    expect(stable(failedRemote.stdout)).toEqual(stable(failed.stdout));

    const [status, statusRemote] = await both(['status', '--json']);
    const strip = (text: string): unknown =>
      (JSON.parse(text) as Array<Record<string, unknown>>).map(
        ({ submittedAt: _s, endedAt: _e, ...rest }) => rest,
      );
    expect(statusRemote.code, statusRemote.stderr).toBe(0);
    expect(strip(statusRemote.stdout)).toEqual(strip(status.stdout));

    const wid = (JSON.parse(status.stdout) as Array<{ workflow: string }>)[1]!.workflow;
    const [one, oneRemote] = await both(['status', wid]);
    expect([one.code, oneRemote.code]).toEqual([1, 1]);
    const noTimes = (t: string): string => t.replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/g, 'T');
    expect(noTimes(oneRemote.stdout)).toBe(noTimes(one.stdout));

    const [watch, watchRemote] = await both(['watch', '--from', 'earliest', '--no-follow']);
    expect(watchRemote.code, watchRemote.stderr).toBe(0);
    const sorted = (t: string): string[] => t.trim().split('\n').sort();
    expect(sorted(watchRemote.stdout)).toEqual(sorted(watch.stdout));
    // The receipt records of the log: the re-run of add-one wrote none (its end references the
    // first run's), divide-by-zero wrote three.
    expect(sorted(watch.stdout)).toHaveLength(6);

    const [w, wRemote] = await both(['watch', '--from', 'earliest', '--workflow', wid]);
    expect([w.code, wRemote.code]).toEqual([1, 1]);
    expect(sorted(wRemote.stdout)).toEqual(sorted(w.stdout));

    const q = 'SELECT function, count() AS n FROM receipts GROUP BY function ORDER BY function';
    const [sql, sqlRemote] = await both(['sql', '--format', 'json', q]);
    expect(sqlRemote.code, sqlRemote.stderr).toBe(0);
    expect(JSON.parse(sqlRemote.stdout)).toEqual(JSON.parse(sql.stdout));
    expect(sqlRemote.stderr).not.toMatch(/Code: 76|Cannot lock/);

    // One call, no workflow file: the module stored on the way, the result printed, memoized.
    const wasm = 'examples/wasm/out/math.wasm';
    const [call, callRemote] = await both(['call', wasm, 'add', '2', '3']);
    expect([call.stdout, callRemote.stdout]).toEqual(['5\n', '5\n']);
    const [again2, again2Remote] = await both(['call', '--json', wasm, 'add', '2', '3']);
    expect(stable(again2Remote.stdout)).toEqual(stable(again2.stdout));
    expect(stable(again2Remote.stdout)[0]).toMatchObject({ out: ['ok', 5], replayed: true });
    const [trap, trapRemote] = await both(['call', wasm, 'divide', '1', '0']);
    expect([trap.code, trapRemote.code]).toEqual([1, 1]);
    expect(trapRemote.stderr).toMatch(/divide by zero/);

    const [drop, dropRemote] = await both(['sql', 'DROP TABLE receipts']);
    expect([drop.code, dropRemote.code]).toEqual([2, 2]);
    expect(dropRemote.stderr).toMatch(/--write/);
  }, 180_000);

  it('--node URL and IPVM_NODE reach a node from any directory', async () => {
    const elsewhere = join(base, 'empty');
    const viaFlag = await ipvm(['status', '--json', '--node', url, '--data-dir', elsewhere]);
    expect(viaFlag.code, viaFlag.stderr).toBe(0);
    expect((JSON.parse(viaFlag.stdout) as unknown[]).length).toBe(4); // 2 runs, 2 calls
    const viaEnv = await ipvm(['run', ADD_ONE, '--data-dir', elsewhere], { IPVM_NODE: url });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    expect(viaEnv.stdout).toMatch(/\(replayed\)/);
    // An unreachable node is infrastructure: exit 3.
    const down = await ipvm(['status', '--node', 'ws://127.0.0.1:9', '--data-dir', elsewhere]);
    expect(down.code).toBe(3);
  }, 60_000);
});

describe('ipvm call', () => {
  it('takes a CID, and passes an argument that is not JSON as a string', async () => {
    const added = await ipvm(['add', 'examples/wasm/out/math.wasm', '--data-dir', nodeDir]);
    const cid = added.stdout.trim();
    const call = (...args: string[]): Promise<Result> =>
      ipvm(['call', cid, 'add', ...args, '--data-dir', nodeDir]);
    expect((await call('2', '40')).stdout).toBe('42\n');
    // `two` is not JSON: the string "two", which add's s32 refuses (a located mapping error)
    const text = await call('two', '1');
    expect(text.code).toBe(1);
    expect(text.stderr).toContain('args[0]: expected s32, got \\"two\\"');
    // `"2"` is JSON: the string "2" too
    expect((await call('"2"', '1')).stderr).toContain('args[0]: expected s32, got \\"2\\"');
  }, 60_000);
});

describe('ipvm sql beside ipvm start --tables', () => {
  it('goes through the node that holds the tables: no lock error, writes only with --write', async () => {
    const tables = await startIpvmNode(tablesDir, 60_000, ['--tables']);
    try {
      expect((await ipvm(['run', ADD_ONE, '--data-dir', tablesDir])).code).toBe(0);
      const q = 'SELECT function, count() AS n FROM receipts GROUP BY function ORDER BY function';
      const sql = await ipvm(['sql', '--format', 'json', q, '--data-dir', tablesDir]);
      expect(sql.code, sql.stderr).toBe(0);
      expect(JSON.parse(sql.stdout)).toEqual([
        { function: 'add', n: 1 },
        { function: 'add_one', n: 2 },
      ]);
      const optimize = ['sql', 'OPTIMIZE TABLE receipts FINAL', '--data-dir', tablesDir];
      expect((await ipvm(optimize)).code).toBe(2);
      const written = await ipvm([...optimize, '--write']);
      expect(written.code, written.stderr).toBe(0);
    } finally {
      tables.child.kill('SIGTERM');
      await new Promise((r) => tables.child.once('exit', r));
    }
  }, 120_000);
});

describe('the client library', () => {
  it('runs, submits, streams receipts, waits for the end and lists workflows', async () => {
    const client = await connect(url);
    try {
      const workflow = await readFile(join(root, ADD_ONE));
      const run = await client.run(workflow, { name: 'lib' });
      expect(run.tasks.map((t) => t.func)).toEqual(['add_one', 'add_one', 'add']);
      const outs: unknown[] = [];
      for await (const r of run.receipts) outs.push(r.out);
      expect(outs.sort()).toEqual([
        ['ok', 13],
        ['ok', 2],
        ['ok', 3],
      ]);
      expect((await run.ended).status).toBe('completed');

      const submitted = await client.submit(workflow);
      expect(submitted.workflow).toBe(run.workflow);
      expect((await client.ended(submitted.workflow)).status).toBe('completed');
      const receipts: string[] = [];
      for await (const r of client.receipts(submitted.workflow)) receipts.push(r.func);
      expect(receipts.sort()).toEqual(['add', 'add_one', 'add_one']);

      const status = await client.status();
      expect(status.find((w) => w.workflow === run.workflow)?.status).toBe('completed');

      // A bad workflow is refused here with its location, before anything is sent.
      await expect(client.submit('{"tasks": []}')).rejects.toThrow(/tasks/);
      // A bad CID is the node's invalid-params error.
      await expect(client.ended('nope')).rejects.toBeInstanceOf(NodeRpcError);
      // An aborted wait rejects with the signal's reason.
      const controller = new AbortController();
      const waiting = client.ended('bafyrmifmepeia2gdg5ejo4j3x3mluot5q5nxw6rzvae54xrqcgf26b6vnu', {
        signal: controller.signal,
      });
      controller.abort(new Error('gave up'));
      await expect(waiting).rejects.toThrow('gave up');
    } finally {
      await client.close();
    }
  }, 60_000);
});

/** A workflow whose task awaits a CID no task produces: it runs until cancelled. */
async function waitsForever(nnc: string): Promise<{ text: string; cid: string }> {
  const add = JSON.parse(await readFile(join(root, ADD_ONE), 'utf8')) as {
    tasks: Array<{ run: { rsc: string } }>;
  };
  const first = add.tasks[0]!;
  const input = { func: 'add_one', args: [{ 'await/ok': { '/': first.run.rsc.slice(7) } }] };
  const text = JSON.stringify({ tasks: [{ ...first, run: { ...first.run, input, nnc } }] });
  return { text, cid: parseWorkflow(text).cid.toString() };
}

describe('ipvm cancel', () => {
  it('cancels through the running node; an ended workflow is an error', async () => {
    const { text, cid } = await waitsForever('remote');
    const client = await connect(url);
    try {
      await client.submit(text);
      const res = await ipvm(['cancel', cid, '--reason', 'cli test', '--data-dir', nodeDir]);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain(`cancelled ${cid}`);
      const end = await client.ended(cid);
      expect(end.status).toBe('failed');
      expect(JSON.stringify(end)).toContain('cancelled: cli test');
      const again = await ipvm(['cancel', cid, '--data-dir', nodeDir]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('it has already ended');
    } finally {
      await client.close();
    }
  }, 60_000);

  it('without a node, appends the request; the next node folds it into the end', async () => {
    const { text, cid } = await waitsForever('embedded');
    const topology = createTopology({ namespace: 'ipvm' });
    const parsed = parseWorkflow(text);
    const log = createFileLog({ dir: join(embeddedDir, 'log') });
    const submitted = {
      type: 'workflow/submitted' as const,
      workflow: parsed.cid,
      body: parsed.workflow,
      name: null,
      at: Date.now(),
    };
    await log.append(topology.name('invocations'), [eventRecord(cid, submitted)]);
    await log.close();
    const res = await ipvm(['cancel', cid, '--data-dir', embeddedDir]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('appended to the log');
    expect((await ipvm(['status', cid, '--data-dir', embeddedDir])).stdout).toMatch(/running/);
    // Any node on the data directory ends it at recovery.
    expect((await ipvm(['run', ADD_ONE, '--data-dir', embeddedDir])).code).toBe(0);
    const status = await ipvm(['status', cid, '--data-dir', embeddedDir]);
    expect(status.stdout).toMatch(/status +failed \(cancelled\)/);
    const unknown = await ipvm([
      'cancel',
      (await waitsForever('never')).cid,
      '--data-dir',
      embeddedDir,
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('knows no such workflow');
  }, 60_000);
});

describe('the discovery file', () => {
  it('is removed when the node stops, and a stale one is ignored', async () => {
    node.kill('SIGTERM');
    expect(await new Promise((r) => node.once('exit', r))).toBe(0);
    expect(existsSync(join(nodeDir, 'node.json'))).toBe(false);
    // A node killed without cleaning up leaves its file: a dead pid means embedded again.
    await writeFile(
      join(nodeDir, 'node.json'),
      JSON.stringify({ url, httpUrl: url.replace('ws:', 'http:'), pid: 2 ** 22 + 1, nodeId: 'x' }),
    );
    const res = await ipvm(['run', ADD_ONE, '--data-dir', nodeDir]);
    expect(res.code, res.stderr).toBe(0);
  }, 60_000);
});
