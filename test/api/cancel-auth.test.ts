// Cancelling in `ucan` mode: `ipvm_cancel`, `console_cancel` and a `workflow/cancel` appended
// to the invocations stream by a producer must carry a chain granting `workflow/cancel` on
// `ipvm:workflow:<cid>` to this node. A proof that covers running the workflow's tasks is not
// enough; a refusal is -32001 with the rule (API) or a dead letter (stream), and the workflow
// runs on. The runner holds each task until the test lets it go, so "running" is controlled.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log } from '../../streams/log.ts';
import { createNode, type IpvmNode } from '../../processors/engine/node.ts';
import { createApiServer, type ApiServer } from '../../processors/api/index.ts';
import { createFaceMethods } from '../../processors/api/face.ts';
import { createConsoleModel, createConsoleRpc } from '../../processors/api/console.ts';
import type { ConsoleModel } from '../../processors/api/console.ts';
import { createAuthority, delegateJwt, generateIdentity } from '../../processors/auth/index.ts';
import { cancelEvent } from '../../processors/engine/cancel.ts';
import { eventRecord } from '../../processors/engine/envelope.ts';
import { parseWorkflow, type ParsedWorkflow } from '../../schemas/model.ts';
import type { TaskRunner } from '../../processors/engine/execute-tasks.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';
import { chain } from '../conformance/engine.suite.ts';

const nodeKey = generateIdentity();
const root = generateIdentity();
const client = generateIdentity();
let dir: string;
let log: Log;
let node: IpvmNode;
let core: CoreRunner;
let model: ConsoleModel;
let api: ApiServer;
let gate: { open: () => void; opened: Promise<void>; started: Promise<void>; start: () => void };
const letters: string[] = [];
let onLetter = (): void => undefined;
/** Resolves once `n` dead letters have been reported. */
function lettersReach(n: number): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (letters.length >= n) resolve();
    };
    onLetter = check;
    check();
  });
}
let runProof: string;

function newGate(): void {
  let open!: () => void;
  let start!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  const started = new Promise<void>((r) => (start = r));
  gate = { open, opened, started, start };
}

const held: TaskRunner = {
  async execute(request, options) {
    gate.start();
    await gate.opened;
    return core.execute(request, options);
  },
};

/** root → client (`with`, `can`) → this node, as a client would hold it. */
async function chainOf(withRsc: string, can: string, leaf = withRsc): Promise<string> {
  const first = await delegateJwt({ issuer: root, audience: client.did, with: withRsc, can });
  return delegateJwt({
    issuer: client,
    audience: nodeKey.did,
    with: leaf,
    can,
    proofs: [first],
  });
}

interface Answer {
  result?: unknown;
  error?: { code: number; message: string; data?: Record<string, unknown> };
}

async function post(method: string, params: unknown): Promise<Answer> {
  const res = await fetch(api.httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return (await res.json()) as Answer;
}

/** Submits a 2-task chain and waits until its first task holds the runner. */
async function running(start: number): Promise<ParsedWorkflow> {
  newGate();
  const w = parseWorkflow(chain(core.rsc, 2, start));
  await node.submit(w.bytes, { proofs: { run: runProof } });
  await gate.started;
  return w;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-cancel-auth-'));
  log = createFileLog({ dir: join(dir, 'log') });
  core = await createCoreRunner();
  runProof = await chainOf('ipfs://*', 'wasm/*');
  node = await createNode({
    log,
    runner: held,
    authority: createAuthority({ identity: nodeKey, mode: 'ucan', trust: [root.did] }),
    onProgress: (e) => {
      if (e.type === 'node:dead-letter') {
        letters.push(e.reason);
        onLetter();
      }
    },
  });
  model = createConsoleModel({ log, topology: node.topology, memo: node.memo });
  await model.ready();
  api = await createApiServer({
    node,
    port: 0,
    extensions: [createFaceMethods({ node }), createConsoleRpc({ node, model, actions: true })],
  });
});

afterAll(async () => {
  gate?.open();
  await api?.close();
  await model?.close();
  await node?.close();
  await log?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('cancel in ucan mode', () => {
  it('ipvm_cancel: refused without a cancel proof, with the task proof, for another workflow', async () => {
    const w = await running(1);
    const cid = w.cid.toString();
    const other = parseWorkflow(chain(core.rsc, 1, 999)).cid.toString();
    const cases: Array<[string[] | undefined, string]> = [
      [undefined, 'InvalidClaim'],
      [[runProof], 'Overreach'], // covers running the tasks, not cancelling
      [[await chainOf(`ipvm:workflow:${other}`, 'workflow/cancel')], 'Overreach'],
      [[await chainOf('ipvm:workflow:*', 'workflow/run')], 'Overreach'],
    ];
    for (const [proofs, rule] of cases) {
      const r = await post('ipvm_cancel', [cid, proofs === undefined ? {} : { proofs }]);
      expect(r.error, `${rule}: ${JSON.stringify(r)}`).toMatchObject({
        code: -32001,
        data: { rule, workflow: cid },
      });
      expect(r.error!.message).toContain(`workflow ${cid}`);
    }
    const bad = await post('ipvm_cancel', [cid, { proofs: 'not-a-list' }]);
    expect(bad.error).toMatchObject({ code: -32602 });
    expect(bad.error!.message).toContain('params[1].proofs');

    // The grant made for every workflow (ipvm:workflow:*), narrowed to this one: accepted.
    const ok = await post('ipvm_cancel', [
      cid,
      {
        reason: 'authorized',
        proofs: [await chainOf('ipvm:workflow:*', 'workflow/cancel', `ipvm:workflow:${cid}`)],
      },
    ]);
    expect(ok.result).toEqual({ workflow: cid, cancelled: true });
    gate.open();
    const end = await node.ended(w.cid);
    expect(end.reason).toBe('cancelled: authorized');
  });

  it('console_cancel: the same rule', async () => {
    const w = await running(20);
    const cid = w.cid.toString();
    const refused = await post('console_cancel', { cid });
    expect(refused.error).toMatchObject({ code: -32001, data: { rule: 'InvalidClaim' } });
    const proofs = [await chainOf(`ipvm:workflow:${cid}`, 'workflow/cancel')];
    expect((await post('console_cancel', { cid, proofs })).result).toEqual({
      workflow: cid,
      cancelled: true,
    });
    gate.open();
    expect((await node.ended(w.cid)).reason).toBe('cancelled');
  });

  it('a workflow/cancel on the stream without a covering proof is dead-lettered; the run goes on', async () => {
    const w = await running(40);
    const cid = w.cid.toString();
    const invocations = node.topology.name('invocations');
    const before = letters.length;
    await log.append(invocations, [
      eventRecord(cid, cancelEvent(w.cid, 'producer', Date.now())),
      eventRecord(cid, cancelEvent(w.cid, 'producer', Date.now(), { t: runProof })),
    ]);
    await lettersReach(before + 2); // both read and refused while task 0 still runs
    gate.open();
    const end = await node.ended(w.cid);
    expect(end.type).toBe('workflow/completed');
    const refused = letters.slice(before);
    expect(refused).toHaveLength(2);
    expect(refused[0]).toMatch(/^InvalidClaim: no proof of workflow\/cancel \(workflow bafyrmi/);
    expect(refused[1]).toMatch(/^Overreach: .*workflow\/cancel on ipvm:workflow:/);

    // With the proof on the event, a producer's cancel is folded. A refused one appended after
    // it tells when the stream was read that far (records of one key are read in order).
    const w2 = await running(60);
    const key = w2.cid.toString();
    const proofs = { p: await chainOf(`ipvm:workflow:${key}`, 'workflow/cancel') };
    const seen = letters.length;
    await log.append(invocations, [
      eventRecord(key, cancelEvent(w2.cid, 'producer', Date.now(), proofs)),
      eventRecord(key, cancelEvent(w2.cid, 'marker', Date.now())),
    ]);
    await lettersReach(seen + 1);
    gate.open();
    const end2 = await node.ended(w2.cid);
    expect(end2.reason).toBe('cancelled: producer');
  });
});
