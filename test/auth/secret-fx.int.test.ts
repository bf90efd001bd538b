// The effects a secret-tainted result asks for (`fx`) inherit its taint: on the node-local
// engine, a follow-up that would send the result to a host the secret may not go to is
// refused (reported, nothing sent), one to an allowed host runs, tainted and redacted.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { createNode, type NodeProgress } from '../../processors/engine/node.ts';
import type { TaskRunner } from '../../processors/engine/execute-tasks.ts';
import {
  createSecretStore,
  createTaintTracker,
  lazyLocalEngine,
  openTaintLedger,
  REDACTED,
  routeTainted,
  screenFollowUps,
  withSecrets,
} from '../../processors/auth/index.ts';
import {
  createEffectRunner,
  createHttpClient,
  parseAllowList,
} from '../../processors/effects/index.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { startTestServer, type TestServer } from '../effects/server.ts';

let server: TestServer;
let dir: string;
beforeAll(async () => {
  server = await startTestServer();
  dir = await mkdtemp(join(tmpdir(), 'ipvm-secret-fx-'));
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

it('checks the hosts of a tainted result’s fx against its secrets', async () => {
  const secrets = createSecretStore({ dataDir: dir });
  secrets.set('pin', '90210', { allowHosts: [`127.0.0.1:${server.port}`] });
  const fx = (host: string, path: string): IpldValue => ({
    rsc: `http://${host}:${server.port}${path}`,
    op: 'http/put',
    input: { body: 'derived' },
  });
  // A stand-in for a component: its result asks for one effect, to the host named by its func.
  const asking: TaskRunner = {
    execute: (req) =>
      Promise.resolve({
        ok: true,
        value: {
          fx: [
            req.func === 'allowed' ? fx('127.0.0.1', '/items/ok') : fx('localhost', '/items/no'),
          ],
        },
        fuel: 0,
        durationMs: 0,
      }),
  };
  const http = createHttpClient({
    allow: parseAllowList(`127.0.0.1:${server.port},localhost:${server.port}`),
  });
  const taint = createTaintTracker(secrets);
  const ledger = openTaintLedger(join(dir, 'taint.jsonl'));
  const events: NodeProgress[] = [];
  const sharedLog = createFileLog({ dir: join(dir, 'shared') });
  const localLog = createFileLog({ dir: join(dir, 'local') });
  const shared = await createNode({ log: sharedLog, runner: asking, topology: { namespace: 's' } });
  const node = await routeTainted({
    shared,
    taint,
    ledger,
    local: lazyLocalEngine(() =>
      createNode({
        log: localLog,
        runner: withSecrets(asking, secrets),
        effects: createEffectRunner({ http, secrets: (n) => secrets.get(n) }),
        screenFollowUp: screenFollowUps(taint, ledger),
        topology: { namespace: 'local' },
        onProgress: (e) => events.push(e),
      }),
    ),
  });
  try {
    const wasm = (func: string): IpldValue => ({
      run: {
        rsc: 'ipfs://bafkqaaa',
        op: 'wasm/run',
        input: { func, args: [{ secret: 'pin' }] },
        nnc: '',
      },
      cause: null,
      meta: {},
      prf: [],
    });
    const wf = parseWorkflow({ tasks: [wasm('allowed'), wasm('elsewhere')] });
    await node.submit(wf);
    expect((await node.ended(wf.cid)).type).toBe('workflow/completed');
    const refused = events.find((e) => e.type === 'effect:emit-refused') as { reason: string };
    expect(refused.reason).toMatch(
      /http\/put to localhost:\d+ would send a value derived from secret "pin"/,
    );
    const emitted = events.find((e) => e.type === 'effect:emitted') as { workflow: IpldValue };
    const follow = parseWorkflow(emitted.workflow);
    expect((await node.ended(follow.cid)).type).toBe('workflow/completed');
    expect(taint.isTainted(follow.tasks[0]!.instruction.toString())).toBe(true);
    // Recorded like a submission: still tainted for a node re-opened on this directory.
    const reread = openTaintLedger(join(dir, 'taint.jsonl'));
    expect(reread.tainted.get(follow.tasks[0]!.instruction.toString())).toEqual(new Set(['pin']));
    expect(node.memo.get(follow.tasks[0]!.instruction.toString())!.body.out).toEqual([
      'ok',
      REDACTED,
    ]);
    expect(server.count('PUT', '/items/ok')).toBe(1);
    expect(server.count('PUT', '/items/no')).toBe(0);
  } finally {
    await node.close();
    await http.close();
    await localLog.close();
    await sharedLog.close();
  }
});
