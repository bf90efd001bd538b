// ipvm status, watch, graph and start --rpc-port as a user runs them: spawned processes on a
// real data directory holding the example component (built from source), plus the shared-flag
// sources (flag > environment > ipvm.config.json) and the exit codes.
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dagJson } from '../../schemas/codecs.ts';
import { parseWorkflow } from '../../schemas/model.ts';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'cli', 'bin.js');
const ADD_ONE = join(root, 'examples', 'workflows', 'add-one.json');
const DIVIDE = join(root, 'examples', 'workflows', 'divide-by-zero.json');
let dataDir: string;
let addOneCid: string;
let divideCid: string;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ipvm …` to completion. Environment variables IPVM_* of the test runner are dropped. */
async function ipvm(
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Result> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('IPVM_')),
  );
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, ...args], {
      cwd: options.cwd ?? root,
      env: { ...env, ...options.env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Starts a long-running `ipvm …` and resolves once a stdout line matches. */
function startIpvm(
  args: string[],
  ready: RegExp | null,
): Promise<{ child: ChildProcessWithoutNullStreams; match: RegExpMatchArray; out: () => string }> {
  const child = spawn(process.execPath, [bin, ...args], { cwd: root });
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready: ${stdout}\n${stderr}`)), 30_000);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = ready === null ? null : stdout.match(ready);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ child, match: m, out: () => stdout });
      }
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    if (ready === null) {
      clearTimeout(timer);
      resolve({ child, match: [] as unknown as RegExpMatchArray, out: () => stdout });
    }
  });
}

function exited(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ipvm-cli-face-'));
  await exec(process.execPath, [join(root, 'examples', 'build.ts'), '--data-dir', dataDir], {
    cwd: root,
  });
  addOneCid = parseWorkflow(await readFile(ADD_ONE)).cid.toString();
  divideCid = parseWorkflow(await readFile(DIVIDE)).cid.toString();
  expect((await ipvm(['run', '--data-dir', dataDir, ADD_ONE])).code).toBe(0);
  expect((await ipvm(['run', '--data-dir', dataDir, DIVIDE])).code).toBe(1);
}, 120_000);

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('ipvm status', () => {
  it('lists the workflows with their progress', async () => {
    const res = await ipvm(['status', '--data-dir', dataDir]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^WORKFLOW\s+NAME\s+STATUS\s+DONE\s+ERRORS\s+REPLAYED\s+SUBMITTED/);
    expect(res.stdout).toMatch(new RegExp(`${addOneCid}\\s+-\\s+completed\\s+3/3\\s+0\\s+0`));
    expect(res.stdout).toMatch(new RegExp(`${divideCid}\\s+-\\s+failed\\s+3/3\\s+2\\s+1`));
    const json = JSON.parse(
      (await ipvm(['status', '--json', '--data-dir', dataDir])).stdout,
    ) as Array<{ workflow: string; status: string; tasks: number }>;
    expect(json.map((w) => [w.workflow, w.status, w.tasks])).toEqual([
      [addOneCid, 'completed', 3],
      [divideCid, 'failed', 3],
    ]);
  });

  it('shows one workflow in detail; exits 1 when it failed or is unknown, 2 for a bad CID', async () => {
    const ok = await ipvm(['status', addOneCid, '--data-dir', dataDir]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/progress\s+3\/3 tasks, 3 ok, 0 errors/);
    expect(ok.stdout).toMatch(/#2 ok\s+add bafyrmi\w+ ← #1/);
    const failed = await ipvm(['status', divideCid, '--json', '--data-dir', dataDir]);
    expect(failed.code).toBe(1);
    const w = JSON.parse(failed.stdout) as {
      tasks: Array<{ func: string; status: string; replayed: boolean }>;
    };
    expect(w.tasks.map((t) => [t.func, t.status])).toEqual([
      ['add_one', 'ok'],
      ['divide', 'error'],
      ['add_one', 'error'],
    ]);
    expect((await ipvm(['status', 'not-a-cid', '--data-dir', dataDir])).code).toBe(2);
    const other = await ipvm([
      'status',
      parseWorkflow({
        tasks: [
          {
            run: {
              rsc: 'ipfs://bafkreigc4g7ygs4m7ojs3dkqt64rjmyrdpglyo36ltd6462pf4pytn4weu',
              op: 'wasm/run',
              input: { func: 'add_one', args: [99] },
              nnc: '',
            },
          },
        ],
      }).cid.toString(),
      '--data-dir',
      dataDir,
    ]);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/is not in the log/);
  });
});

describe('ipvm watch', () => {
  it('prints what the log holds with --no-follow, as run --json lines', async () => {
    const res = await ipvm([
      'watch',
      '--from',
      'earliest',
      '--no-follow',
      '--json',
      '--data-dir',
      dataDir,
    ]);
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { workflow: string; out: [string, unknown]; replayed: boolean });
    expect(lines).toHaveLength(6);
    expect(
      lines
        .filter((l) => l.workflow === addOneCid)
        .map((l) => l.out)
        .sort(),
    ).toEqual([
      ['ok', 13],
      ['ok', 2],
      ['ok', 3],
    ]);
    // divide-by-zero's first task is add-one's first task: replayed from the memo.
    expect(lines.filter((l) => l.workflow === divideCid && l.replayed)).toHaveLength(1);
  });

  it('follows one workflow and exits with its outcome', async () => {
    const done = await ipvm([
      'watch',
      '--workflow',
      addOneCid,
      '--from',
      'earliest',
      '--data-dir',
      dataDir,
    ]);
    expect(done.code).toBe(0);
    expect(done.stdout.trim().split('\n')).toHaveLength(3);
    const failed = await ipvm([
      'watch',
      '--workflow',
      divideCid,
      '--from',
      'earliest',
      '--data-dir',
      dataDir,
    ]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/ERR divide/);
    expect((await ipvm(['watch', '--from', 'yesterday', '--data-dir', dataDir])).code).toBe(2);
  }, 30_000);

  it('follows receipts live while another process runs a workflow', async () => {
    const watcher = await startIpvm(['watch', '--json', '--data-dir', dataDir], null);
    try {
      // Let the watcher reach the end of the log before the run appends.
      await new Promise((r) => setTimeout(r, 1_500));
      // add-one's first task with a nonce: a new instruction, so it really runs.
      const file = join(dataDir, 'nonce.json');
      const wf = JSON.parse(await readFile(ADD_ONE, 'utf8')) as {
        tasks: Array<{ run: { nnc: string } }>;
      };
      wf.tasks[0]!.run.nnc = 'live';
      const text = JSON.stringify({ tasks: [wf.tasks[0]] });
      await writeFile(file, text);
      expect((await ipvm(['run', '--data-dir', dataDir, file])).code).toBe(0);
      const deadline = Date.now() + 10_000;
      while (!watcher.out().includes('"out":["ok",2]') && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const lines = watcher
        .out()
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { out: unknown; replayed: boolean; workflow: string });
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        out: ['ok', 2],
        replayed: false,
        workflow: parseWorkflow(text).cid.toString(),
      });
    } finally {
      watcher.child.kill('SIGINT');
      expect(await exited(watcher.child)).toBe(0);
    }
  }, 60_000);
});

describe('ipvm graph', () => {
  it('prints Mermaid, coloured with a data dir', async () => {
    // An empty working directory: no default .ipvm there, so no states.
    const plain = await ipvm(['graph', ADD_ONE], { cwd: tmpdir() });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^flowchart TD\n/);
    expect(plain.stdout).toContain('t0 --> t1');
    expect(plain.stdout).toContain('t1 --> t2');
    expect(plain.stdout).not.toContain('classDef');
    const coloured = await ipvm(['graph', DIVIDE, '--data-dir', dataDir]);
    expect(coloured.stdout).toContain('class t0 replayed');
    expect(coloured.stdout).toContain('class t1 error');
    expect(coloured.stdout).toContain('class t2 error');
  });

  it('colours from the default data directory (.ipvm) when no --data-dir is given', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'ipvm-cli-graph-'));
    try {
      await symlink(dataDir, join(cwd, '.ipvm'));
      const res = await ipvm(['graph', DIVIDE], { cwd });
      expect(res.code).toBe(0);
      expect(res.stdout).toContain('class t1 error');
      const svg = await ipvm(['graph', DIVIDE, '--format', 'svg'], { cwd });
      // Outputs and errors drawn under the function names, not only in hover titles.
      const outputs = [...svg.stdout.matchAll(/<text class="output"[^>]*>([^<]*)</g)].map(
        (m) => m[1],
      );
      expect(outputs).toEqual([
        '→ 2',
        '✗ trap: divide by zero',
        expect.stringMatching(/^✗ await: .*…$/),
      ]);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  it('renders an SVG document', async () => {
    const res = await ipvm(['graph', ADD_ONE, '--format', 'svg', '--data-dir', dataDir]);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(res.stdout.match(/<g class="task ok"/g)).toHaveLength(3);
    expect(res.stdout.match(/<path class="edge"/g)).toHaveLength(2);
    expect(res.stdout.trim().endsWith('</svg>')).toBe(true);
    expect((await ipvm(['graph', ADD_ONE, '--format', 'png'])).code).toBe(2);
  });
});

describe('shared flags, help and exit codes', () => {
  it('takes flags from the command line, then the environment, then ipvm.config.json', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'ipvm-cli-config-'));
    try {
      await writeFile(join(cwd, 'ipvm.config.json'), JSON.stringify({ 'data-dir': dataDir }));
      const fromFile = await ipvm(['status', '--json'], { cwd });
      expect(fromFile.code, fromFile.stderr).toBe(0);
      const listed = (JSON.parse(fromFile.stdout) as Array<{ workflow: string }>).map(
        (w) => w.workflow,
      );
      expect(listed).toEqual(expect.arrayContaining([addOneCid, divideCid]));
      const empty = join(cwd, 'empty');
      const fromEnv = await ipvm(['status'], { cwd, env: { IPVM_DATA_DIR: empty } });
      expect(fromEnv.code).toBe(1);
      expect(fromEnv.stderr).toMatch(/NoLogError: no log in .*empty: nothing has run/);
      const fromFlag = await ipvm(['status', '--json', '--data-dir', dataDir], {
        cwd,
        env: { IPVM_DATA_DIR: empty },
      });
      expect(
        (JSON.parse(fromFlag.stdout) as Array<{ workflow: string }>).map((w) => w.workflow),
      ).toEqual(listed);
      await writeFile(join(cwd, 'bad.json'), JSON.stringify({ dataDirectory: 'x' }));
      const bad = await ipvm(['status', '--config', 'bad.json'], { cwd });
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/unknown key "dataDirectory"/);
      expect((await ipvm(['status', '--config', 'missing.json'], { cwd })).code).toBe(2);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  it('has help with examples for every command; usage errors exit 2', async () => {
    for (const command of ['run', 'watch', 'status', 'graph', 'start', 'inspect']) {
      const res = await ipvm([command, '--help']);
      expect(res.code, command).toBe(0);
      expect(res.stdout, command).toMatch(/Examples:\n {2}ipvm /);
    }
    expect((await ipvm(['--help'])).stdout).toMatch(
      /Exit codes: 0 ok, 1 workflow failed or bad input, 2 usage, 3 infrastructure/,
    );
    expect((await ipvm(['run', '--no-such-flag', ADD_ONE])).code).toBe(2);
    expect((await ipvm(['run'])).code).toBe(2);
    expect((await ipvm(['frobnicate'])).code).toBe(2);
    expect((await ipvm(['start', '--rpc-port', 'x', '--data-dir', dataDir])).code).toBe(2);
    expect((await ipvm(['start', '--log-level', 'loud', '--data-dir', dataDir])).code).toBe(2);
  });
});

describe('ipvm start --rpc-port', () => {
  it('serves the Homestar-compatible API and /metrics, and drains on SIGTERM', async () => {
    const started = await startIpvm(
      ['start', '--rpc-port', '0', '--data-dir', dataDir, '--log-level', 'warn'],
      /rpc (ws:\/\/[\d.:]+)\n/,
    );
    const url = started.match[1]!;
    try {
      // `ipvm run` on the same data dir goes through the running node (node.json).
      const through = await ipvm(['run', '--data-dir', dataDir, ADD_ONE]);
      expect(through.code, through.stderr).toBe(0);
      expect(through.stdout).toMatch(/\(replayed\)/);

      const ws = new WebSocket(url);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const messages: Array<Record<string, unknown>> = [];
      ws.on('message', (d: Buffer) =>
        messages.push(JSON.parse(d.toString()) as Record<string, unknown>),
      );
      const workflow = dagJson.decode(await readFile(ADD_ONE));
      ws.send(
        JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'subscribe_run_workflow',
          params: [{ name: 'cli', workflow: JSON.parse(dagJson.stringify(workflow)) as unknown }],
        }),
      );
      const deadline = Date.now() + 15_000;
      while (
        messages.filter((m) => m.method === 'subscribe_run_workflow').length < 3 &&
        Date.now() < deadline
      )
        await new Promise((r) => setTimeout(r, 50));
      const notes = messages
        .filter((m) => m.method === 'subscribe_run_workflow')
        .map(
          (m) =>
            dagJson.decode(
              new Uint8Array((m.params as { result: number[] }).result),
            ) as unknown as { metadata: { replayed: boolean; name: string } },
        );
      expect(notes).toHaveLength(3);
      expect(notes.every((n) => n.metadata.replayed && n.metadata.name === 'cli')).toBe(true);
      ws.close();

      const http = url.replace('ws:', 'http:');
      // A run's receipts and end are given out once durable, so the executor may
      // still be reading the last run's records back when its receipts arrive:
      // its lag is reported and drains to 0, which is what is checked here.
      const drained =
        /^ipvm_consumer_lag_records\{consumer="executor",stream="ipvm.invocations"\} 0$/m;
      let metrics = await (await fetch(`${http}/metrics`)).text();
      for (const until = Date.now() + 10_000; !drained.test(metrics) && Date.now() < until;) {
        await new Promise((r) => setTimeout(r, 50));
        metrics = await (await fetch(`${http}/metrics`)).text();
      }
      // Three through `ipvm run`, three through subscribe_run_workflow.
      expect(metrics).toMatch(/^ipvm_tasks_replayed_total 6$/m);
      expect(metrics).toMatch(drained);
      expect(metrics).toMatch(/^ipvm_process_cpu_seconds_total /m);
      // The file log's group commits: the runs' records went through some, each synced.
      const counter = (name: string): number =>
        Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
      expect(counter('ipvm_log_commits_total')).toBeGreaterThan(0);
      expect(counter('ipvm_log_committed_records_total')).toBeGreaterThanOrEqual(
        counter('ipvm_log_commits_total'),
      );
      expect(counter('ipvm_log_sync_seconds_total')).toBeGreaterThan(0);
      expect(await (await fetch(`${http}/health`)).json()).toEqual({ healthy: true });
    } finally {
      started.child.kill('SIGTERM');
    }
    expect(await exited(started.child)).toBe(0);
  }, 60_000);
});
