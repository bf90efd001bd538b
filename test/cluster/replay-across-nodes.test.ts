// Every node of a cluster folds every receipt, so a task done on one node is replayed — not run
// again — when a workflow scheduled by another node contains it. Two engine nodes on one log:
// `a` schedules the first workflow, `b` the second, which repeats two of its tasks. The replayed
// receipts go on `invocations`, with the run's end.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { createNode } from '../../processors/engine/node.ts';
import { decodeEvent, type NodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { TaskRunner } from '../../processors/engine/execute-tasks.ts';
import { createCoreRunner } from '../harness/core-runner.ts';
import { chain } from '../conformance/engine.suite.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-replay-across-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a task done on one node', () => {
  it('is replayed from the memo by another node, not run again', async () => {
    const core = await createCoreRunner();
    // What ran, by argument (the file log gives both nodes every task: some run on both).
    const ran: number[] = [];
    const runner: TaskRunner = {
      execute: (request, options) => {
        ran.push(request.args[0] as number);
        return core.execute(request, options);
      },
    };
    const first = chain(core.rsc, 2); // add_one(1), add_one(2)
    const second = chain(core.rsc, 3); // the same two tasks, then add_one(3)
    const [p1, p2] = [parseWorkflow(first), parseWorkflow(second)];
    const log = createFileLog({ dir: join(dir, 'log') });
    const owner = (w: string): string => (w === p2.cid.toString() ? 'b' : 'a');
    const node = (id: string) =>
      createNode({
        log,
        runner,
        nodeId: id,
        topology: { namespace: 'ipvm' },
        cluster: { owns: (w) => owner(w) === id, onChange: () => () => {} },
      });
    const a = await node('a');
    const b = await node('b');
    try {
      await a.submit(first);
      expect((await b.ended(p1.cid)).type).toBe('workflow/completed');
      expect(new Set(ran)).toEqual(new Set([1, 2]));
      const before = ran.length;
      // b folded a's receipts: its memo has both tasks before it schedules anything.
      for (const t of p1.tasks) expect(b.memo.get(t.instruction.toString())).toBeDefined();

      await b.submit(second);
      const end = await a.ended(p2.cid);
      expect(end.type).toBe('workflow/completed');
      expect(new Set(ran.slice(before))).toEqual(new Set([3])); // only the new task ran

      // The computed receipt is on `pure`; the replayed ones on `invocations`, in the partition
      // of the workflow's end and before it.
      const onPure: ReceiptEvent[] = [];
      for await (const r of log.read(a.topology.name('pure'))) {
        const e = decodeEvent(r.value) as ReceiptEvent;
        if (e.workflow?.equals(p2.cid) === true) onPure.push(e);
      }
      const onInvocations: Array<{ event: NodeEvent; partition: number; offset: number }> = [];
      for await (const r of log.read(a.topology.name('invocations'))) {
        const event = decodeEvent(r.value);
        if ('workflow' in event && event.workflow?.equals(p2.cid) === true)
          onInvocations.push({ event, partition: r.partition, offset: r.offset });
      }
      const replayed = onInvocations.filter((r) => r.event.type === 'receipt');
      const endRecord = onInvocations.find((r) => r.event.type === 'workflow/completed')!;
      expect(replayed).toHaveLength(2);
      for (const r of replayed) {
        expect(r.partition).toBe(endRecord.partition);
        expect(r.offset).toBeLessThan(endRecord.offset);
      }
      const of = (i: number): ReceiptEvent =>
        [...onPure, ...replayed.map((r) => r.event as ReceiptEvent)].find((e) =>
          e.instruction.equals(p2.tasks[i]!.instruction),
        )!;
      for (const i of [0, 1]) {
        expect(of(i).replayed, `task ${i}`).toBe(true);
        expect(of(i).executor, `task ${i}`).toBe('b');
        expect(of(i).receipt.toString()).toBe(
          a.memo.get(p1.tasks[i]!.instruction.toString())!.receipt.toString(),
        );
      }
      // (Only the new task is computed; both nodes may have run it.)
      expect(new Set(onPure.map((e) => e.instruction.toString()))).toEqual(
        new Set([p2.tasks[2]!.instruction.toString()]),
      );
      expect(of(2).replayed).toBe(false);
      expect(of(2).body.out).toEqual(['ok', 4]);
      // `a` folded them from `invocations` as from a receipt stream: they are b's run's.
      for (const i of [0, 1])
        expect(a.memo.written(p2.tasks[i]!.instruction.toString(), p2.cid.toString())).toBe(true);
    } finally {
      await a.close();
      await b.close();
      await log.close();
    }
  }, 60_000);
});
