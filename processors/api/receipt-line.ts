/**
 * The plain-JSON view of a receipt that `ipvm run --json`, `ipvm watch --json` and the face
 * methods of the API ({@link createFaceMethods}) share, so a receipt reads the same whichever
 * path printed it.
 *
 * @module
 */
import { dagJson } from '../../schemas/codecs.ts';
import type { ReceiptEvent, WorkflowEndedEvent } from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import type { Instruction, Receipt } from '../../schemas/types.ts';
import type { CID } from 'multiformats/cid';
import { receiptStreamOf } from '../effects/ops.ts';

/** One receipt as plain JSON. */
export interface ReceiptLine {
  instruction: string;
  receipt: string;
  /** The workflow whose run produced it ('' when none). */
  workflow: string;
  /** The Wasm function, or for other ops `op rsc` (`http/get https://…`). */
  func: string;
  /** The stream the receipt is written to: `pure`, `effects.pure` or `effects.managed`. */
  stream: string;
  /** The outcome; the value as DAG-JSON turned into plain JSON (links are `{"/": cid}`). */
  out: ['ok' | 'error', unknown];
  /** True when answered from the memo. */
  replayed: boolean;
  /** Fuel used, when it ran. */
  fuel: number | null;
  durationMs: number | null;
}

/** How a workflow ended, as plain JSON. */
export interface WorkflowEnd {
  workflow: string;
  status: 'completed' | 'failed';
  /** Instruction CIDs of the tasks that failed. */
  failed: string[];
  /** Receipt CIDs in task order. */
  receipts: string[];
  reason: string | null;
}

/** A record of `invocations` the node could not take, and why. */
export interface Rejection {
  key: string;
  reason: string;
  stream: string;
  partition: number;
  offset: number;
}

/** IPLD → plain JSON through DAG-JSON (links become {"/": cid}, bytes {"/": {"bytes": …}}). */
export function toJson(value: IpldValue): unknown {
  return JSON.parse(dagJson.stringify(value)) as unknown;
}

/** The plain-JSON line of a receipt event. */
export function receiptLine(r: ReceiptEvent, replayed: boolean): ReceiptLine {
  const input = r.run.input as { func?: unknown } | null;
  return {
    instruction: r.instruction.toString(),
    receipt: r.receipt.toString(),
    workflow: r.workflow?.toString() ?? '',
    func: typeof input?.func === 'string' ? input.func : `${r.run.op} ${r.run.rsc}`,
    stream: receiptStreamOf(r.run.op),
    out: [r.body.out[0], toJson(r.body.out[1])],
    replayed,
    fuel: r.fuel,
    durationMs: r.durationMs,
  };
}

/** The plain-JSON view of a workflow's end. */
export function workflowEnd(e: WorkflowEndedEvent): WorkflowEnd {
  return {
    workflow: e.workflow.toString(),
    status: e.type === 'workflow/completed' ? 'completed' : 'failed',
    failed: e.failed.map(String),
    receipts: e.receipts.map(String),
    reason: e.reason,
  };
}

/** The line of a receipt answered from the memo for a workflow's task (marked replayed). */
export function memoLine(
  entry: { instruction: CID; invocation: CID; receipt: CID; body: Receipt },
  workflow: CID,
  run: Instruction,
): ReceiptLine {
  const event: ReceiptEvent = {
    type: 'receipt',
    ...entry,
    workflow,
    run,
    replayed: true,
    fuel: null,
    durationMs: null,
    executor: '',
    at: 0,
  };
  return receiptLine(event, true);
}
