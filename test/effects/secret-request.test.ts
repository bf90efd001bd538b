// Secrets inside an effect's request, against a real loopback server: the recorded request
// (the outbox's intent) names them, the wire carries their values, and whatever is said about
// the request (error receipts) never repeats them; a request naming a secret is refused by a
// runner without secrets, by a host the secret may not go to, and on a redirect elsewhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEffectRunner,
  createHttpClient,
  createOutbox,
  parseAllowList,
  type EffectCall,
  type EffectRunner,
} from '../../processors/effects/index.ts';
import type { EffectIntentEvent, TaskReadyEvent } from '../../schemas/events.ts';
import { decodeEvent, encodeEvent } from '../../schemas/events.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { startTestServer, type TestServer } from './server.ts';

const VALUE = 'Bearer tok-5f0c9d2e7a';
let server: TestServer;
let withSecrets: EffectRunner;
let without: EffectRunner;
beforeAll(async () => {
  server = await startTestServer();
  const http = createHttpClient({
    allow: parseAllowList(`127.0.0.1:${server.port},localhost:${server.port}`),
  });
  const hosts = [`127.0.0.1:${server.port}`, `localhost:${server.port}`];
  withSecrets = createEffectRunner({
    http,
    secrets: (name) => {
      if (name !== 'tok') throw new Error(`no secret named ${JSON.stringify(name)}`);
      return { value: VALUE, allowHosts: hosts };
    },
  });
  without = createEffectRunner({ http });
});
afterAll(async () => {
  await withSecrets.close();
  await server.close();
});

const call = (op: string, path: string, input: IpldValue): EffectCall => ({
  op,
  rsc: `${server.base}${path}`,
  input,
  instruction: 'bafyrmitest',
});
const auth = { authorization: { secret: 'tok' } };

describe('secrets in effect requests', () => {
  it('records the reference, sends the value', async () => {
    const c = call('http/post', '/private/a', { headers: auth, body: [{ secret: 'tok' }, 2] });
    const template = withSecrets.request(c);
    expect(template.headers.authorization).toEqual({ secret: 'tok' });
    expect(JSON.stringify(template)).not.toContain(VALUE);
    const r = await withSecrets.send(c, template);
    expect(r.ok).toBe(true);
    const seen = server.seen.at(-1)!;
    expect(seen.headers.authorization).toBe(VALUE);
    expect(JSON.parse(seen.body)).toEqual([VALUE, 2]);
    expect(seen.headers['content-type']).toBe('application/json');
    // A body that is the secret itself is sent as text.
    const text = call('http/put', '/private/b', { body: { secret: 'tok' } });
    expect((await withSecrets.run(text)).ok).toBe(true);
    expect(server.seen.at(-1)!.body).toBe(VALUE);
    expect(server.seen.at(-1)!.headers['content-type']).toBe('text/plain; charset=utf-8');
  });

  it("keeps the outbox's intent free of the value, through its encoding", async () => {
    const task = {
      run: {
        rsc: `${server.base}/private/intent`,
        op: 'http/post',
        input: { headers: auth, body: { k: { secret: 'tok' } } },
        nnc: 'n',
      },
      cause: null,
      meta: {},
      prf: [],
    };
    const parsed = parseWorkflow({ tasks: [task] });
    const ready: TaskReadyEvent = {
      type: 'task/ready',
      workflow: parsed.cid,
      instruction: parsed.tasks[0]!.instruction,
      invocation: parsed.tasks[0]!.invocation,
      task: parsed.tasks[0]!.task,
      args: [task.run.input],
      at: 0,
    };
    const intents: EffectIntentEvent[] = [];
    const outbox = createOutbox({
      effects: withSecrets,
      append: (i) => {
        intents.push(decodeEvent(encodeEvent(i)) as EffectIntentEvent);
        return Promise.resolve();
      },
    });
    const c = { ...call('http/post', '/private/intent', task.run.input), instruction: 'x' };
    expect((await outbox.send(ready, c)).ok).toBe(true);
    expect(intents).toHaveLength(1);
    const bytes = Buffer.from(encodeEvent(intents[0]!)).toString('latin1');
    expect(bytes).not.toContain(VALUE);
    expect(intents[0]!.request.bodyValue).toEqual({ k: { secret: 'tok' } });
    // Re-sent from the recorded intent (recovery), the value goes out again, same key.
    const again = createOutbox({ effects: withSecrets, append: () => Promise.resolve() });
    again.observe(intents[0]!);
    expect((await again.send(ready, c)).ok).toBe(true);
    const sent = server.seen.filter((s) => s.path === '/private/intent');
    expect(sent).toHaveLength(2);
    expect(sent[1]!.key).toBe(sent[0]!.key);
    expect(JSON.parse(sent[1]!.body)).toEqual({ k: VALUE });
  });

  it('scrubs the value from what an error says', async () => {
    const r = await withSecrets.run(call('http/get', '/echo-auth', { headers: auth }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.message).toContain('400');
    expect(r.error.message).toContain('[secret]');
    expect(r.error.message).not.toContain(VALUE);
  });

  it('refuses without secrets, for a host not allowed, and on a redirect to another origin', async () => {
    const before = server.seen.length;
    const none = await without.run(call('http/get', '/private/c', { headers: auth }));
    expect(none).toMatchObject({ ok: false, error: { kind: 'refused' } });
    expect(!none.ok && none.error.message).toMatch(/secret "tok", which only a node-local/);
    const unknown = await withSecrets.run(
      call('http/get', '/private/c', { headers: { authorization: { secret: 'nope' } } }),
    );
    expect(!unknown.ok && unknown.error.message).toMatch(/refused: no secret named "nope"/);
    expect(server.seen.length).toBe(before);
    const away = await withSecrets.run(call('http/get', '/away', { headers: auth }));
    expect(away).toMatchObject({ ok: false, error: { kind: 'redirect' } });
    expect(server.seen.filter((s) => s.path === '/private/away')).toHaveLength(0);
    // Without a secret, the same redirect is followed.
    expect((await withSecrets.run(call('http/get', '/away', {}))).ok).toBe(true);
    expect(server.seen.filter((s) => s.path === '/private/away')).toHaveLength(1);
  });

  it('refuses a host the secret may not go to, at the moment of the request', async () => {
    const strict = createEffectRunner({
      http: createHttpClient({ allow: parseAllowList(`127.0.0.1:${server.port}`) }),
      secrets: () => ({ value: VALUE, allowHosts: ['api.example.com'] }),
    });
    const before = server.seen.length;
    const r = await strict.run(call('http/get', '/private/d', { headers: auth }));
    expect(r).toMatchObject({ ok: false, error: { kind: 'refused' } });
    expect(!r.ok && r.error.message).toMatch(/secret "tok" is not allowed to go to 127\.0\.0\.1/);
    expect(server.seen.length).toBe(before);
    await strict.close();
  });
});
