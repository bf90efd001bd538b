// Cancelling a workflow, folded by the scheduler: what was not released never is, what runs
// finishes, the run ends `failed` with a `cancelled` reason, and a scheduler rebuilt from the
// log at any point after the request ends it the same way.
import { describe, expect, it } from 'vitest';
import { createMemo } from '../../processors/engine/memo.ts';
import { newReceiptEvent } from '../../processors/engine/receipts.ts';
import { createScheduler, type SchedulerOutput } from '../../processors/engine/schedule-tasks.ts';
import { cancelEvent } from '../../processors/engine/cancel.ts';
import { dagCbor } from '../../schemas/codecs.ts';
import {
  EVENT_VERSION,
  decodeEvent,
  encodeEvent,
  type NodeEvent,
  type WorkflowEndedEvent,
} from '../../schemas/events.ts';
import { SchemaError } from '../../schemas/errors.ts';
import { parseWorkflow, type ParsedWorkflow } from '../../schemas/model.ts';
import { chain } from '../conformance/engine.suite.ts';

const RSC = 'ipfs://bafybeibk42jwhq7w2zcpe6q3wgtleugp3ymfs3pa5gerjmnakqihhqx4zq';

function receipt(w: ParsedWorkflow, index: number, value: number): NodeEvent {
  const t = w.tasks[index]!;
  return newReceiptEvent({
    instruction: t.instruction,
    invocation: t.invocation,
    workflow: w.cid,
    run: t.task.run,
    out: ['ok', value],
    fuel: 1,
    durationMs: 1,
    executor: 'test',
    at: 1,
  });
}

/** A live scheduler whose outputs are appended to `log` and folded back, as the node does. */
function liveLog(w: ParsedWorkflow) {
  const memo = createMemo();
  const s = createScheduler({ memo, nodeId: 'n1', clock: () => 5 });
  s.flush();
  const log: NodeEvent[] = [];
  const feed = (event: NodeEvent): SchedulerOutput[] => {
    log.push(event);
    if (event.type === 'receipt') memo.put(event);
    const out = s.apply(event);
    for (const o of out) feed(o.event);
    return out;
  };
  return { s, log, feed, submit: () => feed(submittedOf(w)) };
}

function submittedOf(w: ParsedWorkflow): NodeEvent {
  return { type: 'workflow/submitted', workflow: w.cid, body: w.workflow, name: null, at: 0 };
}

/** Rebuilds a scheduler from `log` the way the node's recovery does, and flushes it. */
function recover(w: ParsedWorkflow, log: NodeEvent[]) {
  const memo = createMemo();
  const s = createScheduler({ memo, nodeId: 'n1', clock: () => 9 });
  for (const e of log) if (e.type === 'receipt') memo.put(e);
  const key = w.cid.toString();
  if (!log.some((e) => e.type === 'workflow/failed' || e.type === 'workflow/completed')) {
    s.apply(log.find((e) => e.type === 'workflow/submitted')!);
    const cancel = log.find((e) => e.type === 'workflow/cancel');
    if (cancel !== undefined) s.apply(cancel);
    for (const e of log)
      if (e.type === 'task/ready' && !memo.attempted(e.instruction.toString(), key))
        s.released(key, e.instruction.toString());
  }
  return { s, due: s.flush() };
}

const types = (out: SchedulerOutput[]) => out.map((o) => o.event.type);
const withoutAt = (e: NodeEvent) => ({ ...e, at: 0 });

describe('workflow/cancel', () => {
  it('round-trips, and a bad one is refused with the field named', () => {
    const w = parseWorkflow(chain(RSC, 1));
    const event = cancelEvent(w.cid, 'wrong input', 3);
    expect(decodeEvent(encodeEvent(event))).toEqual(event);
    const bad = dagCbor.encode({ v: EVENT_VERSION, type: 'workflow/cancel', workflow: 'x', at: 1 });
    expect(() => decodeEvent(bad)).toThrow(SchemaError);
    expect(() => decodeEvent(bad)).toThrow(/workflow/);
    const badReason = dagCbor.encode({
      v: EVENT_VERSION,
      type: 'workflow/cancel',
      workflow: w.cid,
      reason: 7,
      at: 1,
    });
    expect(() => decodeEvent(badReason)).toThrow(/reason: expected a string/);
  });

  it('mid-chain: the running task finishes, the rest is never released, it ends failed', () => {
    const w = parseWorkflow(chain(RSC, 4));
    const { s, log, feed, submit } = liveLog(w);
    expect(types(submit())).toEqual(['task/ready']);
    expect(types(feed(receipt(w, 0, 2)))).toEqual(['task/ready']); // task 1 runs
    expect(s.running(w.cid.toString())).toBe(true);
    // Two requests: one end. Nothing is emitted while task 1 runs.
    expect(feed(cancelEvent(w.cid, 'by a test', 6))).toEqual([]);
    expect(feed(cancelEvent(w.cid, 'again', 7))).toEqual([]);
    const out = feed(receipt(w, 1, 3));
    expect(types(out)).toEqual(['workflow/failed']);
    const end = out[0]!.event as WorkflowEndedEvent;
    expect(end.reason).toBe('cancelled: by a test');
    // Both receipts of the tasks that ran are kept; 2 and 3 never ran.
    expect(end.receipts).toHaveLength(2);
    expect(end.failed.map(String)).toEqual([2, 3].map((i) => w.tasks[i]!.instruction.toString()));
    const released = log
      .filter((e) => e.type === 'task/ready')
      .map((e) => e.instruction.toString());
    expect(released).toEqual([0, 1].map((i) => w.tasks[i]!.instruction.toString()));
    expect(log.filter((e) => e.type.startsWith('workflow/f'))).toHaveLength(1);
    expect(s.running(w.cid.toString())).toBe(false);
    expect(s.active).toBe(0);
    // A cancel after the end, or of a workflow never seen, folds as nothing.
    expect(feed(cancelEvent(w.cid, null, 8))).toEqual([]);
    expect(s.apply(cancelEvent(parseWorkflow(chain(RSC, 1, 9)).cid, null, 8))).toEqual([]);
  });

  it('rebuilt from the log at any point after the request, ends the same way', () => {
    const w = parseWorkflow(chain(RSC, 3));
    const { log, feed, submit } = liveLog(w);
    submit();
    feed(receipt(w, 0, 2));
    feed(cancelEvent(w.cid, null, 6));
    const r1 = receipt(w, 1, 3);
    feed(r1);
    const liveEnd = log.at(-1)!;
    expect(liveEnd.type).toBe('workflow/failed');
    expect((liveEnd as { reason: string }).reason).toBe('cancelled');
    const cancelAt = log.findIndex((e) => e.type === 'workflow/cancel');
    for (let k = cancelAt + 1; k <= log.length; k++) {
      const prefix = log.slice(0, k);
      const { s, due } = recover(w, prefix);
      // Nothing is released again; the end is written once, when it is missing.
      expect(
        types(due).filter((t) => t === 'task/ready'),
        `crash at ${k}`,
      ).toEqual([]);
      const more = prefix.includes(r1) ? [] : s.apply(r1); // the running task finishes
      const ends = [...due, ...more].filter((o) => o.event.type.startsWith('workflow/'));
      if (k === log.length) expect(ends, `crash at ${k}`).toEqual([]);
      else {
        expect(ends, `crash at ${k}`).toHaveLength(1);
        expect(withoutAt(ends[0]!.event), `crash at ${k}`).toEqual(withoutAt(liveEnd));
      }
    }
  });
});
