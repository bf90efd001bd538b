// The node-local engine of secret-tainted workflows opens only when needed: not at start on a
// node that never ran one, on the first tainted submission, and at start (its recovery) when
// a tainted workflow has not ended — then no more once every one has ended.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openNode } from '../../processors/compose/open-node.ts';
import { createSecretStore } from '../../processors/auth/secrets.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { startTestServer, type TestServer } from '../effects/server.ts';

let server: TestServer;
let dir: string;
beforeAll(async () => {
  server = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'ipvm-local-engine-'));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const get = (path: string, input: IpldValue, nnc = ''): IpldValue => ({
  run: { rsc: `${server.base}${path}`, op: 'http/get', input, nnc },
  cause: null,
  meta: {},
  prf: [],
});
const auth = { authorization: { secret: 'tok' } };

it('opens on the first tainted submission, and at start only for unfinished ones', async () => {
  createSecretStore({ dataDir: dir }).set('tok', 'Bearer t', {
    allowHosts: [`127.0.0.1:${server.port}`],
  });
  const open = (awaitTimeoutMs = 600_000) =>
    openNode({ dataDir: dir, auth: false, allowNet: `127.0.0.1:${server.port}`, awaitTimeoutMs });

  let opened = await open();
  expect(opened.stats().local).toBe(false);
  const plain = parseWorkflow({ tasks: [get('/doc', {})] });
  await opened.node.submit(plain);
  expect((await opened.node.ended(plain.cid)).type).toBe('workflow/completed');
  expect(opened.stats().local).toBe(false);
  expect(existsSync(join(dir, 'local', 'log'))).toBe(false);

  const tainted = parseWorkflow({ tasks: [get('/private/1', { headers: auth })] });
  await opened.node.submit(tainted);
  expect((await opened.node.ended(tainted.cid)).type).toBe('workflow/completed');
  expect(opened.stats().local).toBe(true);
  // Left waiting on an instruction nobody submitted: unfinished when the node closes.
  const unknown = parseWorkflow({ tasks: [get('/nowhere', {}, 'never')] }).tasks[0]!.instruction;
  const waiting = parseWorkflow({
    tasks: [get('/private/2', { headers: auth, response: { 'await/ok': unknown } })],
  });
  await opened.node.submit(waiting);
  await opened[Symbol.asyncDispose]();

  // Re-opened: the local engine recovers the unfinished workflow (which then times out).
  opened = await open(1);
  expect(opened.stats().local).toBe(true);
  expect((await opened.node.ended(waiting.cid)).type).toBe('workflow/failed');
  await opened[Symbol.asyncDispose]();

  // Everything ended: the local engine stays closed until it is needed.
  opened = await open();
  try {
    expect(opened.stats().local).toBe(false);
    // Still known as tainted: a task awaiting one is routed to the local engine.
    const i = tainted.tasks[0]!.instruction;
    const downstream = parseWorkflow({
      tasks: [
        {
          run: {
            rsc: `${server.base}/private/3`,
            op: 'http/put',
            input: { body: { previous: { 'await/ok': i } } },
            nnc: '',
          },
          cause: null,
          meta: {},
          prf: [],
        },
      ],
    });
    await opened.node.submit(downstream);
    expect((await opened.node.ended(downstream.cid)).type).toBe('workflow/completed');
    expect(opened.stats().local).toBe(true);
  } finally {
    await opened[Symbol.asyncDispose]();
  }
}, 120_000);

it('does not count a tainted submission refused in ucan mode as unfinished', async () => {
  const d = await mkdtemp(join(tmpdir(), 'ipvm-local-engine-ucan-'));
  try {
    createSecretStore({ dataDir: d }).set('tok', 'Bearer t', {
      allowHosts: [`127.0.0.1:${server.port}`],
    });
    const open = () =>
      openNode({ dataDir: d, auth: { mode: 'ucan' }, allowNet: `127.0.0.1:${server.port}` });
    let opened = await open();
    const tainted = parseWorkflow({ tasks: [get('/private/u', { headers: auth })] });
    await expect(opened.node.submit(tainted)).rejects.toThrow(/InvalidClaim/);
    await opened[Symbol.asyncDispose]();
    opened = await open();
    expect(opened.stats().local).toBe(false);
    await opened[Symbol.asyncDispose]();
  } finally {
    await rm(d, { recursive: true, force: true });
  }
}, 120_000);
