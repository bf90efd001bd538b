// Cancelling over the API, against a real node on a file log: ipvm_cancel (the CLI's remote
// mode) and console_cancel (the console, actions only). The runner holds each task until the
// test lets it go, so "running" is a state the test controls, not a race.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log } from '../../streams/log.ts';
import { createNode, type IpvmNode } from '../../processors/engine/node.ts';
import { createApiServer, type ApiServer } from '../../processors/api/index.ts';
import { createFaceMethods } from '../../processors/api/face.ts';
import {
  CONSOLE_FORBIDDEN,
  createConsoleModel,
  createConsoleRpc,
  type ConsoleModel,
} from '../../processors/api/console.ts';
import { readEvents } from '../../processors/api/log-view.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { TaskRunner } from '../../processors/engine/execute-tasks.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';
import { chain } from '../conformance/engine.suite.ts';

let dir: string;
let log: Log;
let node: IpvmNode;
let core: CoreRunner;
let model: ConsoleModel;
let withActions: ApiServer;
let readOnly: ApiServer;
/** Tasks wait on this; `started` resolves when one begins. */
let gate: { open: () => void; opened: Promise<void>; started: Promise<void>; start: () => void };

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

interface Answer {
  result?: unknown;
  error: { code: number; message: string; data?: { workflow?: string; state?: string } };
}

async function post(api: ApiServer, method: string, params: unknown): Promise<Answer> {
  const res = await fetch(api.httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return (await res.json()) as Answer;
}

async function openNode(): Promise<IpvmNode> {
  return createNode({ log, runner: held, nodeId: 'cancel-test-node' });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-cancel-'));
  log = createFileLog({ dir: join(dir, 'log') });
  core = await createCoreRunner();
  node = await openNode();
  model = createConsoleModel({ log, topology: node.topology, memo: node.memo });
  await model.ready();
  withActions = await createApiServer({
    node,
    port: 0,
    extensions: [createFaceMethods({ node }), createConsoleRpc({ node, model, actions: true })],
  });
  readOnly = await createApiServer({
    node,
    port: 0,
    extensions: [createConsoleRpc({ node, model })],
  });
});

afterAll(async () => {
  gate?.open();
  await withActions?.close();
  await readOnly?.close();
  await model?.close();
  await node?.close();
  await log?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('cancel over the API', () => {
  it('console_cancel: refused on a read-only console, done with actions', async () => {
    newGate();
    const w = parseWorkflow(chain(core.rsc, 2, 10));
    const cid = w.cid.toString();
    const refused = await post(readOnly, 'console_cancel', { cid });
    expect(refused.error.code).toBe(CONSOLE_FORBIDDEN);
    await node.submit(w.bytes);
    await gate.started;
    expect((await post(withActions, 'console_cancel', { cid })).result).toEqual({
      workflow: cid,
      cancelled: true,
    });
    await expect(node.cancel(parseWorkflow(chain(core.rsc, 1, 77)).cid)).rejects.toThrow(
      /knows no such workflow/,
    );
    gate.open();
    const end = await node.ended(w.cid);
    expect(end.reason).toBe('cancelled');
    expect(end.failed.map(String)).toEqual([w.tasks[1]!.instruction.toString()]);
  });
  it('ipvm_cancel: the running task finishes, nothing else runs, the run ends failed', async () => {
    newGate();
    const w = parseWorkflow(chain(core.rsc, 3, 1));
    const cid = w.cid.toString();
    const calls = core.calls.get('add_one') ?? 0;
    await node.submit(w.bytes);
    await gate.started; // task 0 runs
    const first = await post(withActions, 'ipvm_cancel', [cid, { reason: 'api test' }]);
    expect(first.result).toEqual({ workflow: cid, cancelled: true });
    // Still running (task 0 holds it): a second request is accepted and changes nothing.
    expect((await post(withActions, 'ipvm_cancel', [cid])).result).toEqual(first.result);
    gate.open();
    const end = await node.ended(w.cid);
    expect(end.type).toBe('workflow/failed');
    expect(end.reason).toBe('cancelled: api test');
    expect(end.receipts).toHaveLength(1);
    expect(core.calls.get('add_one')).toBe(calls + 1);
    // The receipt of the task that ran is memoized.
    expect(node.memo.get(w.tasks[0]!.instruction.toString())?.body.out).toEqual(['ok', 2]);

    const again = await post(withActions, 'ipvm_cancel', [cid]);
    expect(again.error.code).toBe(-32602);
    expect(again.error.data).toEqual({ workflow: cid, state: 'ended' });
    const unknown = parseWorkflow(chain(core.rsc, 1, 99)).cid.toString();
    expect((await post(withActions, 'ipvm_cancel', [unknown])).error.data?.state).toBe('unknown');
    expect((await post(withActions, 'ipvm_cancel', ['nope'])).error.message).toMatch(
      /params\[0\]: expected a CID/,
    );

    // Recovery from offset 0 reproduces the same end and writes nothing more.
    await node.close();
    node = await openNode();
    expect(await node.ended(w.cid)).toEqual(end);
    const invocations: string[] = [];
    for await (const e of readEvents(log, [node.topology.name('invocations')]))
      if ('workflow' in e && e.workflow?.toString() === cid) invocations.push(e.type);
    // (A pure task run here has a task/ready record only if it ran past a moment: not asserted.)
    expect(invocations.filter((t) => t !== 'task/ready').sort()).toEqual([
      'workflow/cancel',
      'workflow/cancel',
      'workflow/failed',
      'workflow/submitted',
    ]);
  });
});
