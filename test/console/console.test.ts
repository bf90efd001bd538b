// The console without a browser: its read model folded from a real file log and node, its
// console_* methods over HTTP and WebSocket, the read-only default, and how its files are served
// (content types, CSP, ETag/304, immutable vendor modules).
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log } from '../../streams/log.ts';
import { createNode, type IpvmNode } from '../../processors/engine/node.ts';
import { createApiServer, type ApiServer } from '../../processors/api/index.ts';
import {
  CONSOLE_FORBIDDEN,
  createConsoleModel,
  createConsoleRpc,
  kindOfOp,
  loadConsoleFiles,
  type ConsoleModel,
} from '../../processors/api/console.ts';
import { withFreshNonces } from '../../processors/api/console-actions.ts';
import { valueView } from '../../processors/api/console-views.ts';
import { layoutDag } from '../../processors/dag-layout.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';
import { chain } from '../conformance/engine.suite.ts';

let dir: string;
let log: Log;
let node: IpvmNode;
let runner: CoreRunner;
let model: ConsoleModel;
let readOnly: ApiServer;
let withActions: ApiServer;

interface Hit {
  match: string;
  instruction: string;
  receipt: string;
  outputCid: string;
  func: string;
  outcome: string;
}
interface Notification {
  id?: number;
  method?: string;
  params: {
    result: {
      tasks: Array<{ workflow: string; index: number; state: string }>;
      workflows: Array<{ cid: string }>;
    };
  };
}

async function rpc<T = { cid: string }[]>(api: ApiServer, method: string, params: unknown = []) {
  const res = await fetch(`${api.httpUrl}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return (await res.json()) as { result: T; error?: { code: number; message: string } };
}

function boomWorkflow(rsc: string): IpldValue {
  return {
    tasks: [
      {
        run: { rsc, op: 'wasm/run', input: { func: 'boom', args: [] }, nnc: 'boom' },
        cause: null,
        meta: {},
        prf: [],
      },
    ],
  };
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-console-'));
  log = createFileLog({ dir: join(dir, 'log') });
  runner = await createCoreRunner();
  node = await createNode({ log, runner, nodeId: 'console-test-node' });
  model = createConsoleModel({ log, topology: node.topology, memo: node.memo });
  await model.ready();
  const consoleFiles = await loadConsoleFiles();
  readOnly = await createApiServer({
    node,
    port: 0,
    extensions: [createConsoleRpc({ node, model })],
    consoleFiles,
  });
  withActions = await createApiServer({
    node,
    port: 0,
    extensions: [createConsoleRpc({ node, model, actions: true, concurrency: 16 })],
    consoleFiles,
  });
});

afterAll(async () => {
  await readOnly?.close();
  await withActions?.close();
  await model?.close();
  await node?.close();
  await log?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('console read model', () => {
  it('folds a run into task states, then a re-run into replayed ones', async () => {
    const workflow = chain(runner.rsc, 3, 1, 'model');
    const parsed = await node.submit({ name: 'chain-3', workflow });
    await node.ended(parsed.cid);
    const cid = parsed.cid.toString();
    await until(() => model.workflow(cid)?.status === 'completed', 'completed');
    const wf = model.workflow(cid)!;
    expect(wf.name).toBe('chain-3');
    expect(wf.tasks.map((t) => t.state)).toEqual(['ok', 'ok', 'ok']);
    expect(wf.tasks.every((t) => t.executor === 'console-test-node' && t.fuel !== null)).toBe(true);
    expect(wf.tasks[1]!.awaits).toEqual([{ task: 0, selector: 'await/ok' }]);
    expect(model.summary(wf)).toMatchObject({ tasks: 3, done: 3, failed: 0, replayed: 0 });

    await node.submit({ name: 'chain-3', workflow });
    await until(
      () => model.workflow(cid)?.submissions === 2 && model.workflow(cid)?.status === 'completed',
      're-run ended',
    );
    expect(model.workflow(cid)!.tasks.map((t) => t.state)).toEqual([
      'replayed',
      'replayed',
      'replayed',
    ]);
  });

  it('keeps the error kind and message of a failed task', async () => {
    const parsed = await node.submit(boomWorkflow(runner.rsc));
    const cid = parsed.cid.toString();
    await until(() => model.workflow(cid)?.status === 'failed', 'failed');
    const t = model.workflow(cid)!.tasks[0]!;
    expect(t.state).toBe('error');
    expect(t.error?.kind).toBe('trap');
    expect(t.error?.message).toMatch(/unreachable/);
  });

  it('shows the retries a receipt took', async () => {
    // Content that is never found: retryable, retried per meta.retry, then an error receipt.
    const missing = 'ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';
    const parsed = await node.submit({
      tasks: [
        {
          run: { rsc: missing, op: 'wasm/run', input: { func: 'add_one', args: [1] }, nnc: 'r' },
          cause: null,
          meta: { retry: { attempts: 3, backoff: 1 } },
          prf: [],
        },
      ],
    });
    const cid = parsed.cid.toString();
    await until(() => model.workflow(cid)?.status === 'failed', 'failed after retries');
    expect(model.workflow(cid)!.tasks[0]).toMatchObject({ state: 'error', retries: 2 });
  });

  it('forgets ended workflows beyond its bound, oldest first', async () => {
    const small = createConsoleModel({
      log,
      topology: node.topology,
      memo: node.memo,
      maxEndedWorkflows: 2,
    });
    try {
      await small.ready();
      const all = model.workflows().filter((w) => w.status !== 'running');
      expect(all.length).toBeGreaterThanOrEqual(2);
      const extra = await node.submit(chain(runner.rsc, 1, 500, 'bound'));
      await until(() => small.workflow(extra.cid.toString())?.status === 'completed', 'ended');
      expect(small.stats().workflows.kept).toBe(2);
      expect(small.stats().workflows.evicted).toBe(all.length + 1 - 2);
      expect(small.workflow(extra.cid.toString())).toBeDefined();
    } finally {
      await small.close();
    }
  });

  it('counts stream offsets and the task rate', () => {
    const s = model.stats();
    const inv = s.streams.find((x) => x.stream === node.topology.name('invocations'))!;
    expect(inv.records).toBeGreaterThan(0);
    expect(s.rate.executed.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(4);
    expect(s.replayed).toBe(3); // the re-run of chain-3, answered from the memo
  });

  it('classifies ops: pure Wasm, pure effects, managed effects', () => {
    expect(['wasm/run', 'http/get', 'http/head', 'random/bytes', 'time/now'].map(kindOfOp)).toEqual(
      ['wasm', 'effect', 'effect', 'effect', 'effect'],
    );
    expect(['http/post', 'http/put', 'http/patch', 'http/delete'].map(kindOfOp)).toEqual([
      'managed',
      'managed',
      'managed',
      'managed',
    ]);
  });
});

describe('console_* methods', () => {
  it('lists, filters, shows a workflow with its layout and a task with awaits resolved', async () => {
    const list = await rpc(readOnly, 'console_workflows', { name: 'chain-3' });
    expect(list.result).toHaveLength(1);
    const cid = list.result[0]!.cid;
    expect((await rpc(readOnly, 'console_workflows', { status: 'failed' })).result.length).toBe(2);
    expect((await rpc(readOnly, 'console_workflows', { status: 'nope' })).error?.code).toBe(-32602);
    const wf = await rpc<{ tasks: Array<{ layer: number; column: number; kind: string }> }>(
      readOnly,
      'console_workflow',
      { cid },
    );
    expect(wf.result.tasks.map((t) => [t.layer, t.column, t.kind])).toEqual([
      [0, 0, 'wasm'],
      [1, 0, 'wasm'],
      [2, 0, 'wasm'],
    ]);
    const task = await rpc<{ args: string; output: unknown; receipt: string }>(
      readOnly,
      'console_task',
      { workflow: cid, index: 1 },
    );
    // chain(…, start 1): task 1 awaits task 0's output, add_one(1) = 2.
    expect(JSON.parse(task.result.args)).toEqual([2]);
    expect(task.result.output).toEqual({ outcome: 'ok', view: { type: 'json', text: '3' } });
    expect(task.result.receipt).toMatch(/^bafy/);
    expect((await rpc(readOnly, 'console_task', { workflow: cid, index: 9 })).error?.message).toBe(
      'params.index must be a task index 0-2',
    );
    expect((await rpc(readOnly, 'console_workflow', { cid: 'bafyunknown' })).error?.code).toBe(
      -32602,
    );
  });

  it('searches the memo by instruction, receipt and output CID, and function name', async () => {
    const list = await rpc(readOnly, 'console_workflows', { name: 'chain-3' });
    const wf = model.workflow(list.result[0]!.cid)!;
    const t = wf.tasks[2]!;
    const byInstruction = await rpc<{ source: string; hits: Hit[] }>(
      readOnly,
      'console_memo_search',
      { query: t.instruction },
    );
    expect(byInstruction.result.source).toBe('memo');
    expect(byInstruction.result.hits).toEqual([
      expect.objectContaining({ match: 'instruction', receipt: t.receipt, func: 'add_one' }),
    ]);
    const byReceipt = await rpc<{ source: string; hits: Hit[] }>(readOnly, 'console_memo_search', {
      query: t.receipt,
    });
    expect(byReceipt.result.hits.map((h) => [h.match, h.instruction])).toEqual([
      ['receipt', t.instruction],
    ]);
    const output = byReceipt.result.hits[0]!.outputCid;
    const byOutput = await rpc<{ source: string; hits: Hit[] }>(readOnly, 'console_memo_search', {
      query: output,
    });
    expect(byOutput.result.hits.map((h) => h.instruction)).toContain(t.instruction);
    expect(byOutput.result.hits.every((h) => h.match === 'output')).toBe(true);
    const byFunction = await rpc<{ source: string; hits: Hit[] }>(readOnly, 'console_memo_search', {
      query: 'boom',
    });
    expect(byFunction.result.hits.map((h) => [h.match, h.outcome])).toEqual([
      ['function', 'error'],
    ]);
    const bad = await rpc<{ source: string; hits: Hit[] }>(readOnly, 'console_memo_search', {
      query: "x' OR 1=1 --",
    });
    expect(bad.error?.code).toBe(-32602);
  });

  it('lists its methods in the OpenRPC document', async () => {
    const doc = await rpc<{ methods: Array<{ name: string }> }>(readOnly, 'rpc_discover');
    expect(doc.result.methods.map((m) => m.name)).toEqual(
      expect.arrayContaining(['subscribe_run_workflow', 'console_workflows', 'console_rerun']),
    );
  });

  it('is read-only unless started with actions', async () => {
    const cid = model.workflows({ name: 'chain-3' })[0]!.cid;
    const submit = await rpc(readOnly, 'console_submit', {
      workflow: JSON.stringify(chain(runner.rsc, 1, 900)),
    });
    expect(submit.error?.code).toBe(CONSOLE_FORBIDDEN);
    expect(submit.error?.message).toMatch(/read-only.*--console-actions/);
    expect((await rpc(readOnly, 'console_rerun', { cid, mode: 'nonce' })).error?.code).toBe(
      CONSOLE_FORBIDDEN,
    );
  });

  it('re-runs with new nonces: new instruction CIDs, every task executes again', async () => {
    const cid = model.workflows({ name: 'chain-3' })[0]!.cid;
    const before = runner.total;
    const res = await rpc<{ cid: string; name: string }>(withActions, 'console_rerun', {
      cid,
      mode: 'nonce',
    });
    expect(res.error).toBeUndefined();
    expect(res.result.cid).not.toBe(cid);
    expect(res.result.name).toBe('chain-3');
    await until(() => model.workflow(res.result.cid)?.status === 'completed', 'nonce re-run');
    expect(model.workflow(res.result.cid)!.tasks.map((t) => t.state)).toEqual(['ok', 'ok', 'ok']);
    expect(runner.total - before).toBe(3);
    const bad = await rpc(withActions, 'console_submit', { workflow: '{"tasks": [' });
    expect(bad.error?.code).toBe(-32602);
  });

  it('notifies a WebSocket subscriber of task states as they change', async () => {
    const ws = new WebSocket(readOnly.url);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const messages: Notification[] = [];
    ws.on('message', (d: Buffer) => messages.push(JSON.parse(d.toString()) as Notification));
    try {
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'console_subscribe', params: [] }));
      await until(() => messages.some((m) => m.id === 1), 'subscribed');
      const parsed = await node.submit(chain(runner.rsc, 2, 40, 'live'));
      const cid = parsed.cid.toString();
      const states = (): string[] =>
        messages
          .filter((m) => m.method === 'console_subscribe')
          .flatMap((m) => m.params.result.tasks)
          .filter((t) => t.workflow === cid && t.index === 1)
          .map((t) => t.state);
      await until(() => states().includes('ok'), 'task 1 ok notification');
      const summaries = messages
        .filter((m) => m.method === 'console_subscribe')
        .flatMap((m) => m.params.result.workflows)
        .filter((w) => w.cid === cid);
      expect(summaries.length).toBeGreaterThan(0);
    } finally {
      ws.close();
    }
  });
});

describe('console files', () => {
  it('serves index.html with a strict CSP that admits only its import map', async () => {
    const res = await fetch(`${readOnly.httpUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).not.toContain('unsafe');
    const html = await res.text();
    const map = /<script type="importmap">(.*?)<\/script>/.exec(html)![1]!;
    const hash = createHash('sha256').update(map).digest('base64');
    expect(csp).toContain(`script-src 'self' 'sha256-${hash}'`);
    expect(JSON.parse(map).imports.preact).toMatch(/^\/vendor\/preact@[\d.]+\/preact\.mjs$/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('revalidates its own files by ETag and caches vendor modules for good', async () => {
    const app = await fetch(`${readOnly.httpUrl}/app.js`);
    expect(app.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(app.headers.get('cache-control')).toBe('no-cache');
    const etag = app.headers.get('etag')!;
    const again = await fetch(`${readOnly.httpUrl}/app.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    const html = await (await fetch(`${readOnly.httpUrl}/`)).text();
    const map = JSON.parse(/<script type="importmap">(.*?)<\/script>/.exec(html)![1]!) as {
      imports: Record<string, string>;
    };
    for (const url of Object.values(map.imports)) {
      const v = await fetch(`${readOnly.httpUrl}${url}`);
      expect(v.status, url).toBe(200);
      expect(v.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(await v.text()).not.toContain('sourceMappingURL');
    }
    expect((await fetch(`${readOnly.httpUrl}/style.css`)).headers.get('content-type')).toBe(
      'text/css; charset=utf-8',
    );
    for (const path of ['/../package.json', '/console-rpc.ts', '/vendor/preact.mjs'])
      expect((await fetch(`${readOnly.httpUrl}${path}`)).status, path).toBe(404);
  });
});

describe('console helpers', () => {
  it('shows PNG and JPEG bytes as images and other bytes as hex', () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2]);
    expect(valueView(png)).toMatchObject({ type: 'bytes', mime: 'image/png', length: 10 });
    expect((valueView(png) as { base64: string }).base64).toBe(Buffer.from(png).toString('base64'));
    expect(valueView(Uint8Array.from([0xff, 0xd8, 0xff, 0]))).toMatchObject({ mime: 'image/jpeg' });
    expect(valueView(Uint8Array.from([1, 2, 255]))).toEqual({
      type: 'bytes',
      length: 3,
      mime: null,
      base64: null,
      hex: '01 02 ff',
    });
  });

  it('re-run with new nonces rewrites the awaits between tasks and keeps the shape', () => {
    const body = chain('ipfs://bafkreigc4g7ygs4m7ojs3dkqt64rjmyrdpglyo36ltd6462pf4pytn4weu', 4);
    const before = parseWorkflow(body);
    const after = parseWorkflow(withFreshNonces(body) as unknown as IpldValue);
    expect(after.cid.equals(before.cid)).toBe(false);
    expect(after.external).toEqual([]);
    expect(after.tasks.map((t) => t.dependsOn)).toEqual(before.tasks.map((t) => t.dependsOn));
    const old = new Set(before.tasks.map((t) => t.instruction.toString()));
    expect(after.tasks.some((t) => old.has(t.instruction.toString()))).toBe(false);
  });

  it('lays out a 20 000-task chain without deep recursion', () => {
    const tasks = Array.from({ length: 20_000 }, (_v, i) => ({
      awaits: i === 0 ? [] : [{ task: i - 1 }],
    }));
    const { layer, rows } = layoutDag(tasks);
    expect(layer[19_999]).toBe(19_999);
    expect(rows).toHaveLength(20_000);
  });
});
