import { describe, expect, it } from 'vitest';
import type { CID } from 'multiformats/cid';
import { createMemo } from '../../processors/engine/memo.ts';
import { newReceiptEvent, failure } from '../../processors/engine/receipts.ts';
import { createScheduler, type SchedulerOutput } from '../../processors/engine/schedule-tasks.ts';
import { parseWorkflow, type ParsedWorkflow } from '../../schemas/model.ts';
import type { ReceiptEvent, TaskReadyEvent, WorkflowEndedEvent } from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import type { Outcome } from '../../schemas/types.ts';

const RSC = 'ipfs://bafybeibk42jwhq7w2zcpe6q3wgtleugp3ymfs3pa5gerjmnakqihhqx4zq';

function task(func: string, args: IpldValue[], nnc = ''): IpldValue {
  return {
    run: { rsc: RSC, op: 'wasm/run', input: { func, args }, nnc },
    cause: null,
    meta: {},
    prf: [],
  };
}

/** A workflow built left to right: each spec may await earlier tasks by index. */
function workflow(
  specs: Array<{
    func: string;
    args: Array<IpldValue | { await: 'ok' | 'error' | '*'; on: number }>;
  }>,
): ParsedWorkflow {
  const tasks: IpldValue[] = [];
  const instructions: CID[] = [];
  for (const s of specs) {
    const args = s.args.map((a) =>
      a !== null && typeof a === 'object' && 'await' in (a as object)
        ? { [`await/${(a as { await: string }).await}`]: instructions[(a as { on: number }).on]! }
        : a,
    );
    const t = task(s.func, args);
    tasks.push(t);
    instructions.push(parseWorkflow({ tasks: [t] }).tasks[0]!.instruction);
  }
  return parseWorkflow({ tasks });
}

function submitted(w: ParsedWorkflow, at = 0) {
  return { type: 'workflow/submitted' as const, workflow: w.cid, body: w.workflow, name: null, at };
}

function receiptFor(
  w: ParsedWorkflow,
  index: number,
  out: Outcome,
  workflow: CID | null = w.cid,
): ReceiptEvent {
  const t = w.tasks[index]!;
  return newReceiptEvent({
    instruction: t.instruction,
    invocation: t.invocation,
    workflow,
    run: t.task.run,
    out,
    fuel: 1,
    durationMs: 1,
    executor: 'test',
    at: 1,
  });
}

const ready = (o: SchedulerOutput[]) =>
  o
    .filter(
      (x): x is { stream: 'invocations'; event: TaskReadyEvent } => x.event.type === 'task/ready',
    )
    .map((x) => x.event);
const ends = (o: SchedulerOutput[]) =>
  o.filter((x) => x.event.type.startsWith('workflow/')).map((x) => x.event as WorkflowEndedEvent);
const receipts = (o: SchedulerOutput[]) =>
  o
    .filter((x): x is { stream: 'receipt'; event: ReceiptEvent } => x.stream === 'receipt')
    .map((x) => x.event);

function live(clock = () => 0, workflowTimeoutMs?: number) {
  const memo = createMemo();
  const s = createScheduler({ memo, nodeId: 'n1', clock, workflowTimeoutMs });
  s.flush();
  return { memo, s };
}

describe('scheduler', () => {
  it('releases each task as soon as its own inputs exist, not in layers', () => {
    // 0 ─► 1 ─► 2      3 (independent)      4 awaits 0 only
    const w = workflow([
      { func: 'a', args: [1] },
      { func: 'b', args: [{ await: 'ok', on: 0 }] },
      { func: 'c', args: [{ await: 'ok', on: 1 }] },
      { func: 'd', args: [2] },
      { func: 'e', args: [{ await: 'ok', on: 0 }, 7] },
    ]);
    const { memo, s } = live();
    const first = ready(s.apply(submitted(w)));
    expect(first.map((e) => e.instruction.toString())).toEqual([
      w.tasks[0]!.instruction.toString(),
      w.tasks[3]!.instruction.toString(),
    ]);
    const r0 = receiptFor(w, 0, ['ok', 2]);
    memo.put(r0);
    const second = ready(s.apply(r0));
    expect(second.map((e) => e.instruction.toString()).sort()).toEqual(
      [w.tasks[1]!.instruction.toString(), w.tasks[4]!.instruction.toString()].sort(),
    );
    expect(second.find((e) => e.instruction.equals(w.tasks[4]!.instruction))!.args).toEqual([2, 7]);
    // Task 2 waits for 1 even though 3 is still running.
    const r1 = receiptFor(w, 1, ['ok', 3]);
    memo.put(r1);
    expect(ready(s.apply(r1)).map((e) => e.args)).toEqual([[3]]);
    for (const i of [2, 3, 4]) {
      const r = receiptFor(w, i, ['ok', i]);
      memo.put(r);
      const out = s.apply(r);
      if (i === 4) {
        const [end] = ends(out);
        expect(end!.type).toBe('workflow/completed');
        expect(end!.receipts).toHaveLength(5);
      } else expect(ends(out)).toEqual([]);
    }
  });

  it('keeps at most releaseWindow tasks released, the rest waiting in readiness order', () => {
    // Ten independent tasks and, in a second workflow, a chain of two submitted after them.
    const wide = workflow(Array.from({ length: 10 }, (_, i) => ({ func: 'w', args: [i] })));
    const chain = workflow([
      { func: 'c0', args: [100] },
      { func: 'c1', args: [{ await: 'ok', on: 0 }] },
    ]);
    const memo = createMemo();
    const s = createScheduler({ memo, nodeId: 'n1', clock: () => 0, releaseWindow: 3 });
    s.flush();
    const name = (e: TaskReadyEvent): string =>
      (e.task.run.input as { func: string }).func + JSON.stringify(e.args[0]);
    let released = ready(s.apply(submitted(wide))).map(name);
    expect(released).toEqual(['w0', 'w1', 'w2']);
    expect(ready(s.apply(submitted(chain)))).toEqual([]); // no room: it waits its turn
    const order: string[] = [...released];
    const outstanding = new Map<string, { w: ParsedWorkflow; i: number }>(
      [0, 1, 2].map((i) => [`w${i}`, { w: wide, i }]),
    );
    let done: WorkflowEndedEvent[] = [];
    while (outstanding.size > 0) {
      expect(outstanding.size).toBeLessThanOrEqual(3);
      const [key, { w, i }] = outstanding.entries().next().value!;
      outstanding.delete(key);
      const r = receiptFor(w, i, ['ok', 0]);
      memo.put(r);
      const out = s.apply(r);
      done = [...done, ...ends(out)];
      released = ready(out).map(name);
      order.push(...released);
      for (const e of ready(out)) {
        const owner = e.workflow!.equals(wide.cid) ? wide : chain;
        const index = owner.tasks.findIndex((t) => t.instruction.equals(e.instruction));
        outstanding.set(name(e), { w: owner, i: index });
      }
    }
    // Every task was released once, in the order it became ready (the chain's first step after
    // the wide workflow's tasks that were waiting before it; its second step got c0's output).
    expect(order).toEqual([...Array.from({ length: 10 }, (_, i) => `w${i}`), 'c0100', 'c10']);
    expect(done.map((e) => e.type)).toEqual(['workflow/completed', 'workflow/completed']);
  });

  it('fails await/ok dependents of a failed task with an error receipt, runs await/error ones', () => {
    const w = workflow([
      { func: 'boom', args: [] },
      { func: 'onOk', args: [{ await: 'ok', on: 0 }] },
      { func: 'onError', args: [{ await: 'error', on: 0 }] },
      { func: 'any', args: [{ await: '*', on: 0 }] },
    ]);
    const { memo, s } = live();
    s.apply(submitted(w));
    const r0 = receiptFor(w, 0, failure('trap', 'unreachable'));
    memo.put(r0);
    const out = s.apply(r0);
    const failedReceipts = receipts(out);
    expect(failedReceipts).toHaveLength(1);
    expect(failedReceipts[0]!.instruction.equals(w.tasks[1]!.instruction)).toBe(true);
    expect(failedReceipts[0]!.body.out[0]).toBe('error');
    expect(JSON.stringify(failedReceipts[0]!.body.out[1])).toContain('await/ok');
    const released = ready(out);
    expect(released.map((e) => e.instruction.toString()).sort()).toEqual(
      [w.tasks[2]!.instruction.toString(), w.tasks[3]!.instruction.toString()].sort(),
    );
    const onError = released.find((e) => e.instruction.equals(w.tasks[2]!.instruction))!;
    expect(onError.args).toEqual([{ kind: 'trap', message: 'unreachable', retryable: false }]);
    const any = released.find((e) => e.instruction.equals(w.tasks[3]!.instruction))!;
    expect(any.args).toEqual([
      ['error', { kind: 'trap', message: 'unreachable', retryable: false }],
    ]);
    for (const i of [2, 3]) {
      const r = receiptFor(w, i, ['ok', i]);
      memo.put(r);
      const end = ends(s.apply(r));
      if (i === 3) {
        expect(end[0]!.type).toBe('workflow/failed');
        expect(end[0]!.failed.map(String).sort()).toEqual(
          [w.tasks[0]!.instruction.toString(), w.tasks[1]!.instruction.toString()].sort(),
        );
      }
    }
  });

  it('replays memoized instructions without releasing them, across workflows', () => {
    const w1 = workflow([
      { func: 'a', args: [1] },
      { func: 'b', args: [{ await: 'ok', on: 0 }] },
    ]);
    const { memo, s } = live();
    s.apply(submitted(w1));
    for (const i of [0, 1]) {
      const r = receiptFor(w1, i, ['ok', i + 10]);
      memo.put(r);
      s.apply(r);
    }
    // Same two instructions plus a third, in another workflow.
    const w2 = parseWorkflow({
      tasks: [
        ...(w1.workflow.tasks as unknown as IpldValue[]),
        task('c', [{ 'await/ok': w1.tasks[1]!.instruction }]),
      ],
    });
    const out = s.apply(submitted(w2));
    const replayed = receipts(out);
    expect(replayed).toHaveLength(2);
    expect(replayed.every((r) => r.replayed && r.workflow!.equals(w2.cid))).toBe(true);
    expect(replayed.map((r) => r.receipt.toString())).toEqual(
      [0, 1].map((i) => memo.get(w1.tasks[i]!.instruction.toString())!.receipt.toString()),
    );
    expect(ready(out).map((e) => e.args)).toEqual([[11]]);
  });

  it('resolves an external await from the memo, or waits for it', () => {
    const outside = workflow([{ func: 'x', args: [5] }]);
    const w = parseWorkflow({
      tasks: [task('y', [{ 'await/ok': outside.tasks[0]!.instruction }])],
    });
    expect(w.external).toHaveLength(1);
    const { memo, s } = live();
    expect(ready(s.apply(submitted(w)))).toEqual([]);
    const r = receiptFor(outside, 0, ['ok', 6], outside.cid);
    memo.put(r);
    expect(ready(s.apply(r)).map((e) => e.args)).toEqual([[6]]);
  });

  it('fails a workflow that outlives its timeout', () => {
    let now = 0;
    const w = workflow([{ func: 'a', args: [] }]);
    const { s } = live(() => now, 1_000);
    s.apply(submitted(w, 0));
    now = 999;
    expect(s.tick()).toEqual([]);
    now = 1_000;
    const [end] = ends(s.tick());
    expect(end!.type).toBe('workflow/failed');
    expect(end!.reason).toMatch(/timed out/);
  });

  it('rebuilt from the streams, emits only what was never written', () => {
    const w = workflow([
      { func: 'a', args: [1] },
      { func: 'b', args: [{ await: 'ok', on: 0 }] },
      { func: 'c', args: [3] },
    ]);
    const memo = createMemo();
    const s = createScheduler({ memo, nodeId: 'n1', clock: () => 0 });
    // The log holds: the submission, task/ready of 0 and 2, the receipt of 0 — then a crash.
    const r0 = receiptFor(w, 0, ['ok', 2]);
    memo.put(r0);
    s.apply(r0);
    expect(s.apply(submitted(w))).toEqual([]);
    for (const i of [0, 2])
      s.apply({
        type: 'task/ready',
        workflow: w.cid,
        instruction: w.tasks[i]!.instruction,
        invocation: w.tasks[i]!.invocation,
        task: w.tasks[i]!.task,
        args: [],
        at: 0,
      });
    const due = s.flush();
    // Task 1 was never released; task 2 was released (the executor owns it); nothing else.
    expect(due.map((o) => o.event.type)).toEqual(['task/ready']);
    expect(ready(due)[0]!.instruction.equals(w.tasks[1]!.instruction)).toBe(true);
  });
});
