/**
 * Building receipt events: computed, replayed from the memo, or failed without running.
 *
 * @module
 */
import type { CID } from 'multiformats/cid';
import { rememberEncoding } from '../../schemas/codecs.ts';
import type { ReceiptEvent } from '../../schemas/events.ts';
import type { IpldMap, IpldValue } from '../../schemas/ipld.ts';
import { encodeReceipt, WASM_RUN } from '../../schemas/model.ts';
import type { Instruction, Outcome } from '../../schemas/types.ts';

/** The error value written into an `["error", …]` outcome. */
export interface FailureValue extends IpldMap {
  /** What failed: `trap`, `fuel`, `memory`, `time`, `await`, `unavailable`, `unsupported`, … */
  kind: string;
  /** A located, human-readable message. */
  message: string;
  /** True for transient failures, which are never memoized. */
  retryable: boolean;
}

/** Homestar's receipt `meta`: `{op: <function name>}` for Wasm calls. */
export function receiptMeta(run: Instruction): IpldValue {
  if (run.op === WASM_RUN && typeof (run.input as IpldMap | null)?.func === 'string') {
    return { op: (run.input as IpldMap).func! };
  }
  return { op: run.op };
}

/** What a new receipt event needs. */
export interface NewReceipt {
  instruction: CID;
  invocation: CID;
  workflow: CID | null;
  run: Instruction;
  out: Outcome;
  fuel: number | null;
  durationMs: number | null;
  executor: string;
  at: number;
}

/** A receipt event for an outcome computed (or decided) here. */
export function newReceiptEvent(r: NewReceipt): ReceiptEvent {
  const block = encodeReceipt({
    ran: r.invocation,
    out: r.out,
    meta: receiptMeta(r.run),
    iss: null,
    prf: [],
  });
  // The bytes it was hashed from: the memo keeps them, and its event's encoding copies them.
  rememberEncoding(block.receipt, block.bytes);
  return {
    type: 'receipt',
    instruction: r.instruction,
    invocation: r.invocation,
    receipt: block.cid,
    workflow: r.workflow,
    run: r.run,
    body: block.receipt,
    replayed: false,
    fuel: r.fuel,
    durationMs: r.durationMs,
    executor: r.executor,
    at: r.at,
  };
}

/**
 * The memoized receipt, written again for another workflow and marked replayed. `entry` is a
 * memo entry (the memo's `MemoEntry` has these fields; named by shape so the memo, which takes
 * receipt bytes from here, is not imported back).
 */
export function replayedReceiptEvent(
  entry: Pick<ReceiptEvent, 'instruction' | 'invocation' | 'receipt' | 'body'>,
  run: Instruction,
  workflow: CID | null,
  executor: string,
  at: number,
): ReceiptEvent {
  return {
    type: 'receipt',
    instruction: entry.instruction,
    invocation: entry.invocation,
    receipt: entry.receipt,
    workflow,
    run,
    body: entry.body,
    replayed: true,
    fuel: null,
    durationMs: null,
    executor,
    at,
  };
}

/** An `["error", …]` outcome. */
export function failure(kind: string, message: string, retryable = false): Outcome {
  const value: FailureValue = { kind, message, retryable };
  return ['error', value];
}
