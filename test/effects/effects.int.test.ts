// Effects against a real HTTP server on a free loopback port: memoized GETs, managed POSTs with
// an outbox and an Idempotency-Key, limits and failures as located error receipts, replay.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log } from '../../streams/log.ts';
import {
  createNode,
  type IpvmNode,
  type NodeInit,
  type NodeProgress,
} from '../../processors/engine/node.ts';
import type { TaskRunner } from '../../processors/engine/execute-tasks.ts';
import {
  createEffectRunner,
  createHttpClient,
  idempotencyKey,
  parseAllowList,
  type EffectRunner,
} from '../../processors/effects/index.ts';
import { decodeEvent, type NodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { createCoreRunner } from '../harness/core-runner.ts';
import { startTestServer, type TestServer } from './server.ts';

let server: TestServer;
let dir: string;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-effects-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function task(
  op: string,
  rsc: string,
  input: IpldValue,
  nnc = '',
  meta: IpldValue = {},
): IpldValue {
  return { run: { rsc, op, input, nnc }, cause: null, meta, prf: [] };
}

interface Opened {
  node: IpvmNode;
  log: Log;
  effects: EffectRunner;
  close(): Promise<void>;
}

async function open(
  logDir = dir,
  allow = `127.0.0.1:${server.port}`,
  extra: Partial<NodeInit> = {},
): Promise<Opened> {
  const log = createFileLog({ dir: logDir });
  const effects = createEffectRunner({
    http: createHttpClient({ allow: parseAllowList(allow), maxBodyBytes: 1024 * 1024 }),
  });
  const node = await createNode({
    log,
    runner: await createCoreRunner(),
    effects,
    topology: { namespace: 'fx' },
    taskRetry: { attempts: 4, backoffMs: 5, maxBackoffMs: 50 },
    ...extra,
  });
  return {
    node,
    log,
    effects,
    async close() {
      await node.close();
      await effects.close();
      await log.close();
    },
  };
}

async function run(o: Opened, tasks: IpldValue[]): Promise<ReceiptEvent[]> {
  const parsed = parseWorkflow({ tasks });
  await o.node.submit({ tasks });
  const end = await o.node.ended(parsed.cid);
  return end.receipts.map((cid, i) => {
    const entry = o.node.memo.get(parsed.tasks[i]!.instruction.toString());
    return { receipt: cid, body: entry?.body } as ReceiptEvent;
  });
}

async function readStream(log: Log, stream: string): Promise<NodeEvent[]> {
  const out: NodeEvent[] = [];
  const partitions = await log.partitions(stream);
  for (let p = 0; p < partitions; p++)
    for await (const r of log.read(stream, { partition: p, from: 'earliest' }))
      out.push(decodeEvent(r.value));
  return out;
}

const errorOf = (r: ReceiptEvent) => r.body.out[1] as { kind: string; message: string };

describe('effects', () => {
  it('memoizes a GET: the server sees one request over two runs; nnc forces another', async () => {
    const before = server.count('GET', '/doc');
    const get = task('http/get', `${server.base}/doc`, { response: 'json' });
    {
      const o = await open();
      const [r] = await run(o, [get]);
      expect(r!.body.out[0]).toBe('ok');
      const v = r!.body.out[1] as {
        status: number;
        headers: Record<string, string>;
        body: unknown;
      };
      expect(v.status).toBe(200);
      expect(v.body).toEqual({ value: 41 });
      expect(v.headers['content-type']).toBe('application/json');
      const pure = await readStream(o.log, 'fx.effects.pure');
      expect(pure.filter((e) => e.type === 'receipt')).toHaveLength(1);
      await o.close();
    }
    {
      const o = await open();
      const [r] = await run(o, [get, task('time/now', 'ipvm:time', {})]);
      expect(r!.body.out[0]).toBe('ok');
      await o.close();
    }
    expect(server.count('GET', '/doc') - before).toBe(1);
    const o = await open();
    await run(o, [task('http/get', `${server.base}/doc`, { response: 'json' }, 'fresh')]);
    await o.close();
    expect(server.count('GET', '/doc') - before).toBe(2);
  });

  it('applies a POST once over two runs, with the Idempotency-Key of instruction + nonce', async () => {
    const post = task('http/post', `${server.base}/items/a`, { body: { n: 1 } }, 'once');
    const parsed = parseWorkflow({ tasks: [post] });
    const key = idempotencyKey(parsed.tasks[0]!.instruction, 'once');
    const sent = () => server.seen.filter((s) => s.key === key);
    {
      const o = await open();
      const [r] = await run(o, [post]);
      expect(r!.body.out[0]).toBe('ok');
      expect((r!.body.out[1] as { status: number }).status).toBe(201);
      const managed = await readStream(o.log, 'fx.effects.managed');
      expect(managed.map((e) => e.type)).toEqual(['effect/intent', 'receipt']);
      await o.close();
    }
    {
      const o = await open();
      await run(o, [post]);
      await o.close();
    }
    expect(sent()).toHaveLength(1);
    expect(sent()[0]!.body).toBe('{"n":1}');
    // Another node with its own log sends it again: same key, so the server applies it once.
    const other = await mkdtemp(join(tmpdir(), 'ipvm-effects-other-'));
    try {
      const o = await open(other);
      await run(o, [post]);
      await o.close();
    } finally {
      await rm(other, { recursive: true, force: true });
    }
    expect(sent()).toHaveLength(2);
    expect(server.applied.get(key)).toEqual(['{"n":1}']);
  });

  it('reports 4xx (terminal), retries 5xx and 429, and locates every failure', async () => {
    const missing = task('http/get', `${server.base}/missing`, {});
    const flaky = task('http/get', `${server.base}/flaky`, { response: 'json' });
    const rate = task('http/get', `${server.base}/rate`, { response: 'json' });
    const o = await open();
    const [m, f, r] = await run(o, [missing, flaky, rate]);
    await o.close();
    const instr = parseWorkflow({ tasks: [missing] }).tasks[0]!.instruction.toString();
    expect(m!.body.out[0]).toBe('error');
    expect(errorOf(m!).kind).toBe('http');
    expect(errorOf(m!).message).toBe(
      `task ${instr}: GET ${server.base}/missing: 404 ({"error":"no such item"})`,
    );
    expect(server.count('GET', '/missing')).toBe(1);
    expect(f!.body.out).toEqual(['ok', expect.objectContaining({ body: { attempts: 3 } })]);
    expect(server.count('GET', '/flaky')).toBe(3);
    expect(r!.body.out).toEqual(['ok', expect.objectContaining({ body: { attempts: 3 } })]);
  });

  it('retries a refused connection, then writes a retryable receipt that is not memoized', async () => {
    const closed = await startTestServer();
    const url = `${closed.base}/doc`;
    await closed.close(); // nothing listens there now
    const o = await open(dir, '127.0.0.1');
    const [r] = await run(o, [task('http/get', url, {}, 'closed')]);
    await o.close();
    expect(r!.body).toBeUndefined(); // not memoized
    const events = await (async () => {
      const log = createFileLog({ dir, readOnly: true });
      try {
        return await readStream(log, 'fx.effects.pure');
      } finally {
        await log.close();
      }
    })();
    const receipt = events.find((e) => e.type === 'receipt') as ReceiptEvent;
    const value = receipt.body.out[1] as {
      kind: string;
      message: string;
      retryable: boolean;
      attempts: number;
    };
    expect(value.kind).toBe('unavailable');
    expect(value.retryable).toBe(true);
    expect(value.attempts).toBe(4);
    expect(value.message).toContain(`GET ${url}: connection failed: ECONNREFUSED`);
  });

  it('enforces meta.time, the size cap, the redirect bound and the allow-list', async () => {
    const slow = task('http/get', `${server.base}/slow`, {}, '', { time: 200 });
    const big = task('http/get', `${server.base}/big`, {});
    const loop = task('http/get', `${server.base}/loop`, {});
    const redirect = task('http/get', `${server.base}/redirect`, { response: 'json' });
    const refused = task('http/get', `http://localhost:${server.port}/doc`, {}, 'refused');
    const badInput = task('http/post', `${server.base}/items/x`, { headers: { a: 1 } });
    const badResponse = task('http/get', `${server.base}/doc`, { response: 'xml' });
    const before = server.seen.length;
    const o = await open();
    const [s, b, l, rd, rf, bi, br] = await run(o, [
      slow,
      big,
      loop,
      redirect,
      refused,
      badInput,
      badResponse,
    ]);
    await o.close();
    expect(errorOf(s!).kind).toBe('timeout');
    expect(errorOf(s!).message).toMatch(
      /^task bafyrmi\w+: GET http:\/\/127\.0\.0\.1:\d+\/slow: timed out/,
    );
    expect(errorOf(b!).kind).toBe('too-large');
    expect(errorOf(b!).message).toContain('/big: response body');
    expect(errorOf(l!).kind).toBe('redirect');
    expect(rd!.body.out[0]).toBe('ok');
    expect(errorOf(rf!).kind).toBe('refused');
    expect(errorOf(rf!).message).toContain(
      `GET http://localhost:${server.port}/doc: refused: localhost:${server.port} is not in --allow-net`,
    );
    expect(errorOf(bi!).kind).toBe('bad-input');
    expect(errorOf(bi!).message).toContain('bad input: input.headers.a must be a string');
    expect(errorOf(br!).message).toContain('input.response must be "bytes", "text" or "json"');
    expect(server.seen.slice(before).filter((x) => x.path.startsWith('/items'))).toHaveLength(0);
  });

  it('refuses a connection that reached a private address the allow-list does not name', async () => {
    // A name that passes the URL check but resolves to loopback, as DNS rebinding would.
    const real = parseAllowList('example.com');
    const http = createHttpClient({
      allow: { ...real, checkUrl: () => ({ ok: true }), checkAddress: real.checkAddress },
    });
    const before = server.seen.length;
    await expect(
      http.send({ method: 'GET', url: `${server.base}/doc`, headers: {} }, { instruction: 'bafy' }),
    ).rejects.toMatchObject({ kind: 'refused', retryable: false });
    await http.close();
    expect(server.seen.length).toBe(before);
  });

  it('a client loads undici on its first request: one never used closes at once, one closed is closed', async () => {
    const unused = createHttpClient({ allow: parseAllowList('127.0.0.1') });
    await unused.close();
    const used = createHttpClient({ allow: parseAllowList('127.0.0.1') });
    const res = await used.send(
      { method: 'GET', url: `${server.base}/doc`, headers: {} },
      { instruction: 'bafy' },
    );
    expect(res.status).toBe(200);
    await used.close();
    await expect(
      used.send({ method: 'GET', url: `${server.base}/doc`, headers: {} }, { instruction: 'bafy' }),
    ).rejects.toThrow();
  });

  it('rebuilds from offset 0 with the same receipt CIDs and sends nothing', async () => {
    const tasks = [
      task('http/get', `${server.base}/text`, { response: 'text' }, 'replay'),
      task('http/put', `${server.base}/items/r`, { body: 'x' }, 'replay'),
      task('random/bytes', 'ipvm:random', { length: 16 }, 'replay'),
    ];
    const parsed = parseWorkflow({ tasks });
    let live: string[];
    {
      const o = await open();
      await o.node.submit({ tasks });
      live = (await o.node.ended(parsed.cid)).receipts.map(String);
      await o.close();
    }
    const before = server.seen.length;
    const o = await open();
    const end = await o.node.ended(parsed.cid);
    expect(end.receipts.map(String)).toEqual(live);
    expect(
      parsed.tasks.map((t) => o.node.memo.get(t.instruction.toString())!.receipt.toString()),
    ).toEqual(live);
    await o.close();
    expect(server.seen.length).toBe(before);
  });

  it('runs the effects a Wasm result asks for (fx) as a follow-up linked to its receipt', async () => {
    // A stand-in for a component whose result carries `fx` (the IPLD ⇄ WIT mapping is tested
    // with the Wasm executor): ask → {fx: [...]}, refuse → asks for a wasm/run.
    const post = {
      rsc: `${server.base}/items/fx`,
      op: 'http/post',
      input: { body: 'from wasm' },
      nnc: '',
    };
    const ask: IpldValue = {
      n: 1,
      fx: [JSON.stringify(post), { rsc: `${server.base}/doc`, op: 'http/get', input: {} }],
    };
    const refuse: IpldValue = {
      fx: [{ rsc: 'ipfs://bafkqaaa', op: 'wasm/run', input: { func: 'f', args: [] } }],
    };
    const asking: TaskRunner = {
      execute: (req) =>
        Promise.resolve({
          ok: true,
          value: req.func === 'ask' ? ask : refuse,
          fuel: 0,
          durationMs: 0,
        }),
    };
    const events: NodeProgress[] = [];
    const o = await open(dir, `127.0.0.1:${server.port}`, {
      runner: asking,
      onProgress: (e) => events.push(e),
    });
    const wasm = (func: string) => task('wasm/run', 'ipfs://bafkqaaa', { func, args: [] });
    const [asked] = await run(o, [wasm('ask'), wasm('refuse')]);
    const emitted = events.find((e) => e.type === 'effect:emitted');
    expect(emitted).toBeDefined();
    const follow = parseWorkflow((emitted as { workflow: IpldValue }).workflow);
    expect(follow.tasks.map((t) => t.task.cause?.toString())).toEqual([
      asked!.receipt.toString(),
      asked!.receipt.toString(),
    ]);
    const end = await o.node.ended(follow.cid);
    expect(end.type).toBe('workflow/completed');
    const refused = events.find((e) => e.type === 'effect:emit-refused') as { reason: string };
    expect(refused.reason).toMatch(/fx\[0\]\.op: wasm\/run is not an effect/);
    await o.close();
    expect(server.seen.filter((x) => x.path === '/items/fx').map((x) => x.body)).toEqual([
      'from wasm',
    ]);
  });
});
