// The API's front door against a real server: a web page (or a DNS-rebinding page) cannot drive
// a loopback node, bodies are capped, each connection has limits, deep nesting is a located
// error, and names given over the API reach `ipvm status`.
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log } from '../../streams/log.ts';
import { createTopology } from '../../streams/topology.ts';
import { createNode, type IpvmNode } from '../../processors/engine/node.ts';
import { createApiServer, type ApiServer } from '../../processors/api/index.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { readWorkflows } from '../../processors/api/log-view.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';
import { chain } from '../conformance/engine.suite.ts';

let dir: string;
let log: Log;
let node: IpvmNode;
let api: ApiServer;
let runner: CoreRunner;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-guard-'));
  log = createFileLog({ dir: join(dir, 'log') });
  runner = await createCoreRunner();
  node = await createNode({ log, runner });
  api = await createApiServer({
    node,
    port: 0,
    maxRequestBytes: 64 * 1024,
    maxSubscriptionsPerConnection: 2,
    allowedOrigins: ['https://console.example'],
  });
});

afterAll(async () => {
  await api.close();
  await node.close();
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

/** A raw HTTP request with chosen headers (fetch forbids setting Host and Origin). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: api.port, method, path, headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function upgrade(headers: Record<string, string>): Promise<'open' | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(api.url, { headers });
    ws.on('open', () => {
      ws.close();
      resolve('open');
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => undefined);
  });
}

const health = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'health' });

describe('API guard', () => {
  it('answers loopback callers and never sends wildcard CORS', async () => {
    const plain = await raw('POST', '/', { host: `127.0.0.1:${api.port}` }, health);
    expect(plain.status).toBe(200);
    expect(plain.headers['access-control-allow-origin']).toBeUndefined();
    const local = await raw(
      'POST',
      '/',
      { host: `localhost:${api.port}`, origin: 'http://localhost:5173' },
      health,
    );
    expect(local.status).toBe(200);
    expect(local.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    const listed = await raw('OPTIONS', '/', {
      host: `127.0.0.1:${api.port}`,
      origin: 'https://console.example',
    });
    expect(listed.status).toBe(204);
    expect(listed.headers['access-control-allow-origin']).toBe('https://console.example');
  });

  it('refuses a foreign page and a DNS-rebinding Host, on HTTP and WebSocket alike', async () => {
    const page = await raw(
      'POST',
      '/',
      { host: `127.0.0.1:${api.port}`, origin: 'https://evil.example' },
      health,
    );
    expect(page.status).toBe(403);
    expect((JSON.parse(page.body) as { error: string }).error).toContain(
      'origin "https://evil.example" is not allowed',
    );
    expect(page.headers['access-control-allow-origin']).toBeUndefined();
    const rebound = await raw('GET', '/metrics', { host: `evil.example:${api.port}` });
    expect(rebound.status).toBe(421);
    expect(await upgrade({ origin: 'https://evil.example' })).toBe(403);
    expect(await upgrade({ host: 'evil.example' })).toBe(421);
    expect(await upgrade({ origin: `http://127.0.0.1:${api.port}` })).toBe('open');
  });

  it('caps the request body', async () => {
    const big = await raw(
      'POST',
      '/',
      { host: `127.0.0.1:${api.port}` },
      JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'health', params: ['x'.repeat(70_000)] }),
    );
    expect(big.status).toBe(413);
  });

  it('limits subscriptions per connection and names deep nesting by its offset', async () => {
    const ws = new WebSocket(api.url);
    await new Promise((r) => ws.once('open', r));
    const answers: Array<Record<string, unknown>> = [];
    ws.on('message', (d: Buffer) => {
      const m = JSON.parse(d.toString()) as Record<string, unknown>;
      if ('id' in m) answers.push(m);
    });
    const until = async (n: number): Promise<void> => {
      while (answers.length < n) await new Promise((r) => setTimeout(r, 20));
    };
    const send = (id: number, params: unknown): void =>
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'subscribe_run_workflow', params }));
    for (let i = 0; i < 3; i++)
      send(i + 1, [{ name: `w${i}`, workflow: chain(runner.rsc, 1, 500 + i) }]);
    await until(3);
    const third = answers.find((a) => a.id === 3)!;
    expect(third.error).toMatchObject({ code: -32009 });
    expect((third.error as { message: string }).message).toMatch(/too many subscriptions/);
    // 20 000 nested lists: a located error, not "Maximum call stack size exceeded".
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    ws.send(
      `{"jsonrpc":"2.0","id":9,"method":"subscribe_run_workflow","params":[{"name":"d","workflow":${deep}}]}`,
    );
    await until(4);
    const error = answers.find((a) => a.id === 9)!.error as { code: number; message: string };
    expect(error.code).toBe(-32602);
    expect(error.message).toMatch(/^invalid workflow: dag-json at byte \d+: .*(deep|depth|nest)/i);
    ws.close();
    // The names given over the API are on the submissions.
    const parsed = parseWorkflow(chain(runner.rsc, 1, 500));
    await node.ended(parsed.cid, { signal: AbortSignal.timeout(10_000) });
    const views = await readWorkflows(log, createTopology());
    expect(views.find((v) => v.workflow === parsed.cid.toString())?.name).toBe('w0');
  });
});
