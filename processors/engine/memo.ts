/**
 * The memo: instruction CID → receipt, the in-process index on the per-task hot path.
 *
 * It is a fold over the receipt streams (`pure`, `effects.pure`): rebuilt by reading them, and
 * updated as receipts are appended. The first receipt of an instruction wins; later ones for
 * the same instruction (replays, or a race between two nodes) only add the workflow they were
 * written for, because a receipt is a pure function of its instruction. Failures marked
 * retryable (content that was missing, a lost worker) are not memoized: they say nothing about
 * the instruction.
 *
 * @module
 */
import type { CID } from 'multiformats/cid';
import type { ReceiptEvent } from '../../schemas/events.ts';
import { isIpldMap } from '../../schemas/ipld.ts';
import type { Outcome, Receipt } from '../../schemas/types.ts';

/** What the memo keeps of a receipt. */
export interface MemoEntry {
  /** The instruction (memo key). */
  instruction: CID;
  /** CID of the receipt. */
  receipt: CID;
  /** The invocation the receipt points at (`ran`). */
  invocation: CID;
  /** The receipt itself. */
  body: Receipt;
}

/** The in-process memo. */
export interface Memo {
  /** The receipt of an instruction, by the instruction CID's string form. */
  get(instruction: string): MemoEntry | undefined;
  /**
   * True when a receipt event that settles this instruction was written for this workflow
   * (`null`: a task submitted alone), memoized or not. A retryable failure settles nothing: a
   * later run of the workflow runs the task again.
   */
  written(instruction: string, workflow: string | null): boolean;
  /**
   * True when only a retryable failure was written for this instruction and workflow: the task
   * was tried and must be tried again (recovery releases it anew).
   */
  attempted(instruction: string, workflow: string | null): boolean;
  /**
   * Records a receipt event: memoizes it unless its instruction already has a receipt or its
   * failure is retryable, and notes the workflow it was written for.
   * @returns true when the receipt was memoized.
   */
  put(event: ReceiptEvent): boolean;
  /**
   * Records a receipt known only by its routing (instruction, workflow, receipt CID, outcome);
   * `load` decodes it the first time {@link Memo.get} needs it. Used by recovery, which would
   * otherwise decode every receipt ever written.
   * @returns true when the receipt was memoized.
   */
  putLazy(
    routing: { instruction: string; workflow: string; outcome: string },
    load: () => ReceiptEvent,
  ): boolean;
  /** Number of memoized instructions. */
  readonly size: number;
  /** Every memoized entry, in insertion order. */
  entries(): IterableIterator<MemoEntry>;
}

/** True when an outcome is an error the node marked as transient (not a property of the task). */
export function isRetryableFailure(out: Outcome): boolean {
  return out[0] === 'error' && isIpldMap(out[1]) && out[1].retryable === true;
}

const SOLO = '';

/** Creates an empty memo. */
function entryOf(event: ReceiptEvent): MemoEntry {
  return {
    instruction: event.instruction,
    receipt: event.receipt,
    invocation: event.invocation,
    body: event.body,
  };
}

export function createMemo(): Memo {
  const byInstruction = new Map<string, MemoEntry | (() => ReceiptEvent)>();
  const writtenFor = new Map<string, Set<string> | string>();
  /** `${workflow} ${instruction}` tried with only a retryable failure so far (rare: a Set). */
  const attempts = new Set<string>();
  const noteWritten = (key: string, w: string): void => {
    const seen = writtenFor.get(key);
    // Most instructions run in one workflow: keep a string until a second one shows up.
    if (seen === undefined) writtenFor.set(key, w);
    else if (typeof seen === 'string') {
      if (seen !== w) writtenFor.set(key, new Set([seen, w]));
    } else seen.add(w);
  };
  const get = (instruction: string): MemoEntry | undefined => {
    const v = byInstruction.get(instruction);
    if (typeof v !== 'function') return v;
    const entry = entryOf(v());
    byInstruction.set(instruction, entry);
    return entry;
  };
  const written = (instruction: string, workflow: string | null): boolean => {
    const seen = writtenFor.get(instruction);
    const w = workflow ?? SOLO;
    return seen === undefined ? false : typeof seen === 'string' ? seen === w : seen.has(w);
  };
  return {
    get,
    written,
    attempted(instruction, workflow) {
      return attempts.has(`${workflow ?? SOLO} ${instruction}`);
    },
    put(event) {
      const key = event.instruction.toString();
      const w = event.workflow?.toString() ?? SOLO;
      if (isRetryableFailure(event.body.out)) {
        if (!written(key, w)) attempts.add(`${w} ${key}`);
        return false;
      }
      noteWritten(key, w);
      attempts.delete(`${w} ${key}`);
      if (byInstruction.has(key)) return false;
      byInstruction.set(key, entryOf(event));
      return true;
    },
    putLazy(routing, load) {
      if (routing.outcome === 'transient') {
        if (!written(routing.instruction, routing.workflow))
          attempts.add(`${routing.workflow} ${routing.instruction}`);
        return false;
      }
      noteWritten(routing.instruction, routing.workflow);
      attempts.delete(`${routing.workflow} ${routing.instruction}`);
      if (byInstruction.has(routing.instruction)) return false;
      byInstruction.set(routing.instruction, load);
      return true;
    },
    get size() {
      return byInstruction.size;
    },
    *entries() {
      for (const key of byInstruction.keys()) yield get(key)!;
    },
  };
}
