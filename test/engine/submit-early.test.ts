// A submission made on a node alone of a run the memo answers wholly is folded at once
// (core.submitEarly) and appended with its end in one append: a memo hit costs one append of
// `invocations`, including the replayed receipt of a task another workflow ran. A run with work
// to do is folded when read back.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import type { AppendRecord, Log } from '../../streams/log.ts';
import { createNode, type NodeInit } from '../../processors/engine/node.ts';
import { eventRecord, ROUTING } from '../../processors/engine/envelope.ts';
import { replayedReceiptEvent } from '../../processors/engine/receipts.ts';
import { parseWorkflow, type ParsedWorkflow } from '../../schemas/model.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { chain } from '../conformance/engine.suite.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';
import { logWith } from '../harness/log-with.ts';

let dir: string;
let runner: CoreRunner;
let n = 0;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-submit-early-'));
  runner = await createCoreRunner();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** The file log, with every append to `invocations` recorded as the list of its record types. */
function recording(): { log: Log; appends: string[][]; invocations: string } {
  const invocations = `e${++n}.invocations`;
  const inner = createFileLog({ dir });
  const appends: string[][] = [];
  const log = logWith(inner, {
    append: (stream: string, records: readonly AppendRecord[], options) => {
      if (stream === invocations) appends.push(records.map((r) => r.headers![ROUTING.type]!));
      return inner.append(stream, records, options);
    },
  });
  return { log, appends, invocations };
}

/** The file log, with every append recorded as the stream's short name and its record types. */
function recordingEvery(): { log: Log; appends: string[][]; namespace: string } {
  const namespace = `e${++n}`;
  const inner = createFileLog({ dir });
  const appends: string[][] = [];
  const log = logWith(inner, {
    append: (stream: string, records: readonly AppendRecord[], options) => {
      appends.push([
        stream.slice(namespace.length + 1),
        ...records.map((r) => r.headers![ROUTING.type]!),
      ]);
      return inner.append(stream, records, options);
    },
  });
  return { log, appends, namespace };
}

/** A one-task workflow, and the same task under other metadata: another workflow, memoized. */
function oneTaskTwice(): [ParsedWorkflow, ParsedWorkflow] {
  const first = chain(runner.rsc, 1) as { tasks: Array<Record<string, IpldValue>> };
  const second = {
    tasks: [{ ...first.tasks[0]!, meta: { ...(first.tasks[0]!.meta as object), again: true } }],
  };
  return [parseWorkflow(first), parseWorkflow(second)];
}

const init = (log: Log, extra: Partial<NodeInit> = {}): NodeInit => ({
  log,
  runner,
  nodeId: 'n',
  topology: { namespace: `e${n}` },
  ...extra,
});

describe('a memo hit folded at once on a node alone', () => {
  for (const pipeline of [true, false]) {
    it(`a memo hit appends ${pipeline ? 'its submission and end at once' : 'them in turn (pipeline: false)'}`, async () => {
      const { log, appends } = recording();
      const node = await createNode(init(log, { pipeline }));
      try {
        const wf = chain(runner.rsc, 3);
        const cid = parseWorkflow(wf).cid;
        await node.submit(wf);
        expect((await node.ended(cid)).type).toBe('workflow/completed');
        appends.length = 0;
        await node.submit(wf);
        const end = await node.ended(cid);
        expect(end.replayed).toBe(3);
        expect(runner.total).toBe(3);
        expect(appends).toEqual(
          pipeline
            ? [['workflow/submitted', 'workflow/completed']]
            : [['workflow/submitted'], ['workflow/completed']],
        );
      } finally {
        await node.close();
        await log.close();
      }
    });
  }

  it('folds a run with work to do when it is read back: no task before the submission is durable', async () => {
    const invocations = `e${++n}.invocations`;
    const inner = createFileLog({ dir });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let held = false;
    const log = logWith(inner, {
      // The first append of a submission waits for the gate (a slow fsync).
      append: async (stream, records, options) => {
        const submission = records.some((r) => r.headers?.[ROUTING.type] === 'workflow/submitted');
        if (stream === invocations && submission && !held) {
          held = true;
          await gate;
        }
        return inner.append(stream, records, options);
      },
    });
    let started = 0;
    const node = await createNode(
      init(log, {
        topology: { namespace: `e${n}` },
        runner: {
          execute: (request) => {
            started++;
            return runner.execute(request);
          },
        },
      }),
    );
    try {
      const wf = chain(runner.rsc, 2);
      const cid = parseWorkflow(wf).cid;
      const submitted = node.submit(wf);
      await new Promise((r) => setTimeout(r, 100));
      expect(started).toBe(0);
      open();
      await submitted;
      expect((await node.ended(cid)).type).toBe('workflow/completed');
      expect(started).toBe(2);
    } finally {
      open();
      await node.close();
      await log.close();
    }
  });

  it('a memo hit from another workflow is one append of invocations, and a restart keeps its link', async () => {
    const { log, appends, namespace } = recordingEvery();
    const [p1, p2] = oneTaskTwice();
    const [w1, w2] = [p1.cid, p2.cid];
    expect(w2.equals(w1)).toBe(false);
    let node = await createNode(init(log, { topology: { namespace } }));
    try {
      await node.submit(p1);
      await node.ended(w1);
      appends.length = 0;
      await node.submit(p2);
      const end = await node.ended(w2);
      expect(end.type).toBe('workflow/completed');
      expect(runner.total).toBe(1);
      // Submission, replayed receipt and end together, in the workflow's partition: one file
      // to sync; nothing on `pure`.
      expect(appends).toEqual([
        ['invocations', 'workflow/submitted', 'receipt', 'workflow/completed'],
      ]);

      // After a restart the node knows the receipt is the second workflow's: a re-run of it
      // references the receipt instead of writing it again.
      await node.close();
      node = await createNode(init(log, { topology: { namespace } }));
      expect(node.memo.written(p2.tasks[0]!.instruction.toString(), w2.toString())).toBe(true);
      appends.length = 0;
      await node.submit(p2);
      const again = await node.ended(w2);
      expect(again.replayed).toBe(1);
      expect(appends).toEqual([['invocations', 'workflow/submitted', 'workflow/completed']]);
      expect(runner.total).toBe(1);
    } finally {
      await node.close();
      await log.close();
    }
  });

  it('reads a replayed receipt on pure, where nodes wrote them before, as the same link', async () => {
    const { log, appends, namespace } = recordingEvery();
    const [p1, p2] = oneTaskTwice();
    const instruction = p2.tasks[0]!.instruction.toString();
    let node = await createNode(init(log, { topology: { namespace } }));
    try {
      await node.submit(p1);
      await node.ended(p1.cid);
      // The second workflow's link to the receipt, on `pure` as an older node wrote it.
      const entry = node.memo.get(instruction)!;
      const old = replayedReceiptEvent(entry, p2.tasks[0]!.task.run, p2.cid, 'older', Date.now());
      await log.append(`${namespace}.pure`, [eventRecord(instruction, old)]);
      await node.close();
      node = await createNode(init(log, { topology: { namespace } }));
      expect(node.memo.written(instruction, p2.cid.toString())).toBe(true);
      appends.length = 0;
      await node.submit(p2);
      expect((await node.ended(p2.cid)).receipts.map(String)).toEqual([entry.receipt.toString()]);
      // Linked already: no replayed receipt is written again.
      expect(appends).toEqual([['invocations', 'workflow/submitted', 'workflow/completed']]);
      expect(runner.total).toBe(1);
    } finally {
      await node.close();
      await log.close();
    }
  });
});
