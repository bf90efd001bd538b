// A secret used inside effects, end to end as a user runs it: `ipvm secret set`, then `ipvm run`
// of a GET and a POST carrying it (a header, a JSON body) against a real loopback server. The
// server sees it; stdout, stderr and every file of the data directory (logs, the outbox's
// intent, the taint ledger) never hold it; the shared streams hold nothing of the workflow.
// A second `ipvm run` (the node re-opened on the same data directory) of a task downstream of
// a tainted one is still tainted: node-local and redacted.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { createTopology } from '../../streams/topology.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { dagJson } from '../../schemas/codecs.ts';
import { REDACTED } from '../../processors/auth/local-node.ts';
import { SECRETS_FILE } from '../../processors/auth/secrets.ts';
import { startTestServer, type TestServer } from '../effects/server.ts';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'cli', 'bin.js');
let dir: string;
let data: string;
let server: TestServer;
const SECRET = `Bearer s3cr3t-${randomBytes(12).toString('hex')}`;

function ipvm(args: string[], stdin?: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('IPVM_')),
    );
    const child = execFile(
      process.execPath,
      [bin, ...args],
      { cwd: root, env: { ...env, IPVM_ALLOW_NET: `127.0.0.1:${server.port}` } },
      (err, stdout, stderr) =>
        resolve({
          code: err === null ? 0 : ((err as { code?: number }).code ?? 1),
          stdout,
          stderr,
        }),
    );
    child.stdin!.end(stdin ?? '');
  });
}

/** Every file under `d` but the secret store itself, as one latin1 string. */
async function everything(d: string): Promise<{ text: string; files: number }> {
  let text = '';
  let files = 0;
  for (const e of await readdir(d, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || (e.parentPath === d && e.name === SECRETS_FILE)) continue;
    files++;
    text += (await readFile(join(e.parentPath, e.name))).toString('latin1');
  }
  return { text, files };
}

/** Every record of the shared streams, keys and headers included. */
async function sharedStreams(): Promise<string> {
  const log = createFileLog({ dir: join(data, 'log'), readOnly: true });
  let text = '';
  try {
    for (const s of createTopology({ namespace: 'ipvm' }).streams)
      for await (const r of log.read(s.name))
        text += Buffer.from(r.value).toString('latin1') + JSON.stringify(r.headers) + r.key;
  } finally {
    await log.close();
  }
  return text;
}

const lines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-secret-fx-'));
  data = join(dir, 'data');
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('a secret inside effects', () => {
  const get = {
    run: {
      rsc: '', // set once the server's port is known
      op: 'http/get',
      input: { headers: { authorization: { secret: 'api-token' } }, response: 'json' },
      nnc: 'secret-fx',
    },
  };
  const post = {
    run: {
      rsc: '',
      op: 'http/post',
      input: {
        headers: { authorization: { secret: 'api-token' } },
        body: { token: { secret: 'api-token' }, n: 1 },
        response: 'json',
      },
      nnc: 'secret-fx',
    },
  };

  it('sends it to an allowed host at the moment of the request, and records it nowhere', async () => {
    get.run.rsc = `${server.base}/private/get`;
    post.run.rsc = `${server.base}/private/post`;
    const set = await ipvm(
      [
        'secret',
        'set',
        'api-token',
        '--allow-host',
        `127.0.0.1:${server.port}`,
        '--data-dir',
        data,
      ],
      SECRET,
    );
    expect(set.code, set.stderr).toBe(0);
    const wf = join(dir, 'wf.json');
    await writeFile(wf, JSON.stringify({ tasks: [get, post] }));
    const run = await ipvm(['run', '--json', '--data-dir', data, wf]);
    expect(run.code, run.stderr).toBe(0);

    // The server saw the secret, in the header and in the JSON body.
    const seen = server.seen.filter((s) => s.path.startsWith('/private'));
    expect(seen.map((s) => s.method).sort()).toEqual(['GET', 'POST']);
    for (const s of seen) expect(s.headers.authorization).toBe(SECRET);
    const posted = seen.find((s) => s.method === 'POST')!;
    expect(JSON.parse(posted.body)).toEqual({ token: SECRET, n: 1 });
    expect(posted.key).toMatch(/^ipvm1-/);

    // Outputs are tainted: redacted on stdout.
    const out = lines(run.stdout).filter((l) => 'out' in l && 'stream' in l);
    expect(out).toHaveLength(2);
    for (const l of out) expect(l.out).toEqual(['ok', REDACTED]);

    // Nowhere: stdout, stderr, any file of the data directory (shared and local logs, the
    // managed effect's intent, the taint ledger, caches).
    expect(run.stdout + run.stderr + set.stdout + set.stderr).not.toContain(SECRET.slice(7));
    const files = await everything(data);
    expect(files.files).toBeGreaterThan(2);
    expect(files.text).toContain('api-token'); // the intent names the secret…
    expect(files.text).not.toContain(SECRET.slice(7)); // …and never holds its value

    // The shared streams hold nothing of the workflow.
    const parsed = parseWorkflow({ tasks: [get, post] });
    const shared = await sharedStreams();
    for (const n of [parsed.cid, ...parsed.tasks.map((t) => t.instruction)])
      expect(shared).not.toContain(n.toString());
  }, 120_000);

  it('keeps the taint across a restart: a task downstream of a tainted one stays local', async () => {
    const i0 = parseWorkflow({ tasks: [get] }).tasks[0]!.instruction;
    const after = {
      run: {
        rsc: `${server.base}/private/after`,
        op: 'http/put',
        input: { body: { previous: { 'await/ok': { '/': i0.toString() } } }, response: 'json' },
        nnc: 'after-restart',
      },
    };
    const wf = join(dir, 'after.json');
    await writeFile(wf, JSON.stringify({ tasks: [after] }));
    const run = await ipvm(['run', '--json', '--await-timeout', '20000', '--data-dir', data, wf]);
    expect(run.code, run.stderr).toBe(0);
    const out = lines(run.stdout).filter((l) => 'out' in l && 'stream' in l);
    expect(out.map((l) => l.out)).toEqual([['ok', REDACTED]]);
    expect(server.count('PUT', '/private/after')).toBe(1);
    const parsed = parseWorkflow(dagJson.decode(await readFile(wf)));
    const shared = await sharedStreams();
    expect(shared).not.toContain(parsed.cid.toString());
    expect(shared).not.toContain(parsed.tasks[0]!.instruction.toString());
  }, 120_000);

  it('refuses, at submission, a secret sent to a host it is not allowed to go to', async () => {
    const wf = join(dir, 'elsewhere.json');
    const elsewhere = { run: { ...get.run, rsc: `http://localhost:${server.port}/private/x` } };
    await writeFile(wf, JSON.stringify({ tasks: [elsewhere] }));
    const before = server.seen.length;
    const run = await ipvm(['run', '--json', '--data-dir', data, wf]);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/would send a value derived from secret "api-token"/);
    expect(run.stderr).not.toContain(SECRET.slice(7));
    expect(server.seen.length).toBe(before);
  }, 120_000);
});
