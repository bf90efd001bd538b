// The JSON-RPC API driven with a real WebSocket client, the way Homestar's clients drive
// Homestar: subscribe_run_workflow with {name, workflow}, one notification per task whose
// params.result is the UTF-8 bytes of a DAG-JSON receipt notification, then a re-run answered
// from the memo with metadata.replayed = true.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CID } from 'multiformats/cid';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log } from '../../streams/log.ts';
import { createNode, type IpvmNode } from '../../processors/engine/node.ts';
import { createNodeMetrics, type NodeMetrics } from '../../processors/metrics.ts';
import { createApiServer, type ApiServer } from '../../processors/api/index.ts';
import { dagCbor, dagJson } from '../../schemas/codecs.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';
import { chain } from '../conformance/engine.suite.ts';

interface Notification {
  metadata: { name: string; replayed: boolean; workflow: CID };
  receipt: {
    ran: CID;
    out: ['ok' | 'error', unknown];
    meta: unknown;
    iss: string | null;
    prf: CID[];
  };
  receipt_cid: CID;
}

/** A minimal JSON-RPC client over `ws`, shaped like @fission-codes/homestar's channel. */
class Client {
  readonly ws: WebSocket;
  #id = 0;
  #pending = new Map<number, (msg: Record<string, unknown>) => void>();
  readonly notifications: Array<{ subscription: string; result: number[]; method: string }> = [];
  #waiters: Array<() => void> = [];
  readonly order: string[] = [];

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      if ('id' in msg && typeof msg.id === 'number') {
        this.order.push(`response:${msg.id}`);
        this.#pending.get(msg.id)?.(msg);
        this.#pending.delete(msg.id);
      } else if (typeof msg.method === 'string') {
        const params = msg.params as { subscription: string; result: number[] };
        this.order.push(`notification:${params.subscription}`);
        this.notifications.push({ ...params, method: msg.method });
        for (const w of this.#waiters.splice(0)) w();
      }
    });
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
  }

  request(method: string, params?: unknown): Promise<Record<string, unknown>> {
    const id = ++this.#id;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      this.ws.send(
        JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) }),
      );
    });
  }

  async received(subscription: string, n: number, timeoutMs = 10_000): Promise<Notification[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const mine = this.notifications.filter((x) => x.subscription === subscription);
      if (mine.length >= n)
        return mine.map((x) => dagJson.decode(new Uint8Array(x.result)) as unknown as Notification);
      if (Date.now() > deadline)
        throw new Error(`only ${mine.length} of ${n} notifications for ${subscription}`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

let dir: string;
let log: Log;
let node: IpvmNode;
let api: ApiServer;
let runner: CoreRunner;
let metrics: NodeMetrics;
let detach: () => void;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-api-'));
  log = createFileLog({ dir: join(dir, 'log') });
  runner = await createCoreRunner();
  metrics = createNodeMetrics();
  node = await createNode({ log, runner, onProgress: metrics.onProgress, nodeId: 'api-test-node' });
  detach = metrics.attach(node);
  api = await createApiServer({ node, metrics, port: 0 });
});

afterAll(async () => {
  detach();
  await api.close();
  await node.close();
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

describe('JSON-RPC over WebSocket, as Homestar clients use it', () => {
  it('listens on loopback by default', () => {
    expect(api.host).toBe('127.0.0.1');
    expect(api.url).toBe(`ws://127.0.0.1:${api.port}`);
  });

  it('runs a workflow: one notification per task, then a re-run replayed from the memo', async () => {
    const workflow = chain(runner.rsc, 3, 1);
    const parsed = parseWorkflow(workflow);
    const client = new Client(api.url);
    await client.open();
    try {
      // DAG-JSON on the wire, as Homestar's clients send it.
      const params = [JSON.parse(dagJson.stringify({ name: 'test', workflow })) as unknown];
      const res = await client.request('subscribe_run_workflow', params);
      expect(res.error).toBeUndefined();
      const sub = res.result as string;
      expect(sub).toMatch(/^[A-Za-z0-9]{16}$/);

      const first = await client.received(sub, 3);
      // The subscribe response comes before any notification.
      expect(client.order.indexOf('response:1')).toBeLessThan(
        client.order.indexOf(`notification:${sub}`),
      );
      expect(client.notifications.every((n) => n.method === 'subscribe_run_workflow')).toBe(true);
      for (const n of first) {
        expect(n.metadata.name).toBe('test');
        expect(n.metadata.replayed).toBe(false);
        expect(n.metadata.workflow.toString()).toBe(parsed.cid.toString());
        expect(CID.asCID(n.receipt_cid)).not.toBeNull();
        expect(n.receipt.out[0]).toBe('ok');
      }
      expect(first.map((n) => n.receipt.out[1]).sort()).toEqual([2, 3, 4]);
      expect(first.map((n) => n.receipt.ran.toString()).sort()).toEqual(
        parsed.tasks.map((t) => t.invocation.toString()).sort(),
      );
      const calls = runner.total;

      // Re-run under another name: every receipt replayed, nothing executed.
      const again = await client.request('subscribe_run_workflow', [
        JSON.parse(dagJson.stringify({ name: 'again', workflow })) as unknown,
      ]);
      const sub2 = again.result as string;
      expect(sub2).not.toBe(sub);
      const second = await client.received(sub2, 3);
      expect(second.every((n) => n.metadata.replayed && n.metadata.name === 'again')).toBe(true);
      expect(second.map((n) => n.receipt_cid.toString()).sort()).toEqual(
        first.map((n) => n.receipt_cid.toString()).sort(),
      );
      expect(runner.total).toBe(calls);
      // Exactly one notification per task, even once the stream settles.
      await new Promise((r) => setTimeout(r, 300));
      expect(client.notifications.filter((n) => n.subscription === sub2)).toHaveLength(3);

      expect((await client.request('unsubscribe_run_workflow', [sub2])).result).toBe(true);
      expect((await client.request('unsubscribe_run_workflow', [sub2])).result).toBe(false);
    } finally {
      await client.close();
    }
  });

  it('accepts the workflow as DAG-CBOR bytes of {name, workflow}', async () => {
    const workflow = chain(runner.rsc, 2, 100);
    const bytes = dagCbor.encode({ name: 'cbor', workflow });
    const client = new Client(api.url);
    await client.open();
    try {
      const res = await client.request('subscribe_run_workflow', [Array.from(bytes)]);
      expect(res.error).toBeUndefined();
      const got = await client.received(res.result as string, 2);
      expect(got.map((n) => n.receipt.out[1]).sort()).toEqual([101, 102]);
      expect(got.every((n) => n.metadata.name === 'cbor' && !n.metadata.replayed)).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('rejects a bad workflow with invalid params and the field path', async () => {
    const client = new Client(api.url);
    await client.open();
    try {
      const res = await client.request('subscribe_run_workflow', [
        {
          name: 'bad',
          workflow: {
            tasks: [{ run: { rsc: 'nope', op: 'wasm/run', input: { func: 'f', args: [] } } }],
          },
        },
      ]);
      const error = res.error as { code: number; message: string; data: { path: string } };
      expect(error.code).toBe(-32602);
      expect(error.data.path).toBe('workflow.tasks[0].run.rsc');
      const unknown = await client.request('subscribe_network_events');
      expect((unknown.error as { code: number }).code).toBe(-32601);
    } finally {
      await client.close();
    }
  });

  it('answers health, node, metrics and rpc_discover', async () => {
    const client = new Client(api.url);
    await client.open();
    try {
      expect((await client.request('health')).result).toEqual({ healthy: true });
      const info = (await client.request('node')).result as {
        static: { peer_id: string };
        dynamic: { listeners: string[] };
      };
      expect(info.static.peer_id).toBe('api-test-node');
      expect(info.dynamic.listeners).toEqual([api.url]);
      const m = (await client.request('metrics')).result as {
        metrics: Array<{
          metric_name: string;
          metric_type: string;
          data: Array<{ value?: string; labels: unknown }>;
        }>;
      };
      const executed = m.metrics.find((x) => x.metric_name === 'ipvm_tasks_executed_total');
      expect(executed?.metric_type).toBe('gauge');
      expect(
        Number(
          executed?.data.find((d) => (d.labels as { outcome?: string } | null)?.outcome === 'ok')
            ?.value,
        ),
      ).toBeGreaterThanOrEqual(5);
      expect(
        m.metrics.find((x) => x.metric_name === 'ipvm_task_duration_seconds')?.metric_type,
      ).toBe('histogram');
      const doc = (await client.request('rpc_discover')).result as {
        openrpc: string;
        methods: Array<{ name: string }>;
      };
      expect(doc.openrpc).toMatch(/^1\./);
      expect(doc.methods.map((x) => x.name)).toEqual(
        expect.arrayContaining([
          'health',
          'metrics',
          'node',
          'subscribe_run_workflow',
          'unsubscribe_run_workflow',
          'rpc_discover',
        ]),
      );
    } finally {
      await client.close();
    }
  });
});

describe('JSON-RPC over HTTP', () => {
  it('serves methods on POST / and Prometheus text on GET /metrics', async () => {
    const post = async (body: unknown): Promise<unknown> => {
      const res = await fetch(api.httpUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return res.json();
    };
    expect(await post({ jsonrpc: '2.0', id: 7, method: 'health' })).toEqual({
      jsonrpc: '2.0',
      result: { healthy: true },
      id: 7,
    });
    const batch = (await post([
      { jsonrpc: '2.0', id: 1, method: 'health' },
      { jsonrpc: '2.0', id: 2, method: 'nope' },
    ])) as Array<{ id: number; error?: { code: number } }>;
    expect(batch.find((r) => r.id === 2)?.error?.code).toBe(-32601);
    const sub = (await post({
      jsonrpc: '2.0',
      id: 3,
      method: 'subscribe_run_workflow',
      params: [{ workflow: chain(runner.rsc, 1, 5) }],
    })) as { error: { message: string } };
    expect(sub.error.message).toMatch(/WebSocket/);
    const parse = (await (
      await fetch(api.httpUrl, { method: 'POST', body: '{not json' })
    ).json()) as { error: { code: number } };
    expect(parse.error.code).toBe(-32700);

    const metrics = await fetch(`${api.httpUrl}/metrics`);
    expect(metrics.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await metrics.text();
    expect(text).toMatch(/^ipvm_tasks_replayed_total \d+/m);
    expect(text).toMatch(/^ipvm_memo_hit_ratio 0\.\d+/m);
    expect(text).toMatch(/^ipvm_task_duration_seconds_bucket\{le="0\.001"\} \d+/m);
    expect(await (await fetch(`${api.httpUrl}/health`)).json()).toEqual({ healthy: true });
    expect(
      ((await (await fetch(`${api.httpUrl}/rpc_discover`)).json()) as { openrpc: string }).openrpc,
    ).toBe('1.2.6');
  });
});
