// A pure task this node runs itself gets its task/ready record only if it is still running a
// moment after its release (ready-later.ts): a step costs one record less. A crash between
// release and receipt then leaves neither record, and recovery releases the task again: the
// crash suites (engine-crash.test.ts, a 1 000-step chain killed mid-flight) cover that case.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log } from '../../streams/log.ts';
import { createNode, type NodeInit } from '../../processors/engine/node.ts';
import { createReadyLater } from '../../processors/engine/ready-later.ts';
import type { RunRequest } from '../../processors/engine/execute-tasks.ts';
import { decodeEvent, type TaskReadyEvent } from '../../schemas/events.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { CID } from 'multiformats/cid';
import { chain } from '../conformance/engine.suite.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';

let dir: string;
let runner: CoreRunner;
let n = 0;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-ready-later-'));
  runner = await createCoreRunner();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function invocationTypes(log: Log, stream: string): Promise<string[]> {
  const types: string[] = [];
  for await (const r of log.read(stream, {})) types.push(decodeEvent(r.value).type);
  return types;
}

async function taskReadies(log: Log, stream: string): Promise<TaskReadyEvent[]> {
  const out: TaskReadyEvent[] = [];
  for await (const r of log.read(stream, {})) {
    const e = decodeEvent(r.value);
    if (e.type === 'task/ready') out.push(e);
  }
  return out;
}

function setup(extra: Partial<NodeInit> = {}): { log: Log; init: NodeInit; stream: string } {
  const log = createFileLog({ dir });
  const ns = `r${++n}`;
  return {
    log,
    stream: `${ns}.invocations`,
    init: { log, runner, nodeId: 'n', topology: { namespace: ns }, ...extra },
  };
}

describe('task/ready records of pure tasks run here', () => {
  it('a chain of fast pure tasks writes none; the receipts and end are unchanged', async () => {
    const results: Record<string, string[]> = {};
    for (const [label, extra] of [
      ['held', {}],
      ['at once', { readyRecordAfterMs: 0 }],
      ['pipeline off', { pipeline: false }],
    ] as const) {
      const { log, init, stream } = setup(extra);
      const node = await createNode(init);
      try {
        const wf = chain(runner.rsc, 5, 100);
        const end = await node.ended((await node.submit(wf)).cid);
        expect(end.type).toBe('workflow/completed');
        results[label] = end.receipts.map(String);
        const types = await invocationTypes(log, stream);
        expect(types.filter((t) => t === 'task/ready')).toHaveLength(label === 'held' ? 0 : 5);
        expect(types.filter((t) => t !== 'task/ready')).toEqual([
          'workflow/submitted',
          'workflow/completed',
        ]);
      } finally {
        await node.close();
        await log.close();
      }
    }
    expect(results['held']).toEqual(results['at once']);
    expect(results['held']).toEqual(results['pipeline off']);
  });

  it('a task still running after the delay gets its record, with its release time', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const gated = {
      ...runner,
      execute: async (request: RunRequest) => {
        started();
        await gate;
        return runner.execute(request);
      },
    };
    const { log, init, stream } = setup({ runner: gated, readyRecordAfterMs: 20 });
    const node = await createNode(init);
    try {
      const parsed = parseWorkflow(chain(runner.rsc, 1, 7));
      const before = Date.now();
      await node.submit(parsed);
      await running;
      // Held, then written while the task runs.
      const deadline = Date.now() + 10_000;
      let readies: TaskReadyEvent[] = [];
      while (readies.length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        readies = await taskReadies(log, stream);
      }
      expect(readies).toHaveLength(1);
      const ready = readies[0]!;
      expect(ready.instruction.toString()).toBe(parsed.tasks[0]!.instruction.toString());
      expect(ready.workflow?.toString()).toBe(parsed.cid.toString());
      // Its time is the release, not the write.
      expect(ready.at).toBeGreaterThanOrEqual(before);
      expect(ready.at).toBeLessThanOrEqual(before + 5_000);
      open();
      expect((await node.ended(parsed.cid)).type).toBe('workflow/completed');
      expect(await taskReadies(log, stream)).toHaveLength(1);
    } finally {
      open();
      await node.close();
      await log.close();
    }
  });
});

describe('createReadyLater', () => {
  const cid = (i: number): CID => parseWorkflow(chain(runner.rsc, 1, i)).tasks[0]!.instruction;
  const event = (instruction: CID, workflow: CID | null): TaskReadyEvent =>
    ({ type: 'task/ready', instruction, workflow }) as unknown as TaskReadyEvent;
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('writes what is not settled when due, oldest first, and nothing of ended runs', async () => {
    const written: TaskReadyEvent[][] = [];
    const ended = cid(1);
    const later = createReadyLater(
      15,
      (events) => written.push(events),
      (workflow) => workflow !== ended.toString(),
    );
    const [a, b, c] = [cid(2), cid(3), cid(4)];
    const w = cid(5);
    later.hold(event(a, w));
    later.hold(event(b, w));
    later.hold(event(b, cid(6))); // the same instruction in a second run
    later.hold(event(c, ended));
    expect(later.size).toBe(3);
    later.settle(a.toString());
    expect(later.size).toBe(2);
    await wait(60);
    expect(written).toHaveLength(1);
    expect(written[0]!.map((e) => `${e.instruction.toString()}@${e.workflow?.toString()}`)).toEqual(
      [`${b.toString()}@${w.toString()}`, `${b.toString()}@${cid(6).toString()}`],
    );
    expect(later.size).toBe(0);
    // Settling after the write changes nothing; a new hold is due again later.
    later.settle(b.toString());
    later.hold(event(a, w));
    later.close();
    await wait(40);
    expect(written).toHaveLength(1);
  });
});

describe('ready-later and memory', () => {
  it('lets go of a settled task at once, not when its record would have been due', async () => {
    // Holding every task's event for `afterMs` after its receipt outlived the young generation:
    // V8 promoted the events, then allocated task/ready events in the old space outright.
    const child = fileURLToPath(new URL('ready-later-child.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', child]);
    expect(JSON.parse(stdout)).toEqual({ held: 0, released: true });
  });
});
