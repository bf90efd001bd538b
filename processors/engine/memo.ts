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
import { CID } from 'multiformats/cid';
import { decodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import { dagCbor, knownEncoding } from '../../schemas/codecs.ts';
import { isIpldMap } from '../../schemas/ipld.ts';
import { parseReceipt } from '../../schemas/model.ts';
import { KeyIndex, NumberColumn, type HeldBytes } from './key-index.ts';
import { Slabs, type SlabsOptions } from './slabs.ts';
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
   * `bytes` are the receipt event's record (copied), decoded when {@link Memo.get} needs it.
   * Used by recovery, which would otherwise decode every receipt ever written.
   * @returns true when the receipt was memoized.
   */
  putLazy(
    routing: { instruction: string; workflow: string; outcome: string },
    bytes: Uint8Array,
  ): boolean;
  /** Whether an instruction has a receipt (without decoding it). */
  has(instruction: string): boolean;
  /** Number of memoized instructions. */
  readonly size: number;
  /** Bytes the packed entries take. */
  readonly packedBytes: number;
  /** Bytes of memory the packed entries take (the rest is in the spill file, if any). */
  readonly residentBytes: number;
  /** Bytes of packed entries in the spill file. */
  readonly spilledBytes: number;
  /**
   * Everything the memo keeps of every instruction, by where: the packed entries, the index
   * of instruction CIDs, and the numbers kept by them (not the workflows' CIDs when shared).
   */
  keptBytes(): HeldBytes;
  /** Every memoized entry, in insertion order. */
  entries(): IterableIterator<MemoEntry>;
}

/** The memo as its owner (the engine's core) holds it. */
export interface OwnedMemo extends Memo {
  /** Releases the spill file; entries kept there can no longer be read. */
  close(): void;
}

/** True when an outcome is an error the node marked as transient (not a property of the task). */
export function isRetryableFailure(out: Outcome): boolean {
  return out[0] === 'error' && isIpldMap(out[1]) && out[1].retryable === true;
}

const SOLO = '';

function entryOf(event: ReceiptEvent): MemoEntry {
  return {
    instruction: event.instruction,
    receipt: event.receipt,
    invocation: event.invocation,
    body: event.body,
  };
}

/** Packed kinds: a whole receipt event as read from the log, or an entry packed here. */
const EVENT = 0;
const ENTRY = 1;
const KIND_EVENT = Uint8Array.of(EVENT);
const KIND_ENTRY = Uint8Array.of(ENTRY);

/**
 * Entries kept decoded besides their packed form: the last this many read, twice — and fewer
 * when their packed bytes pass {@link RECENT_BYTES} (outputs of megabytes). A receipt put is
 * not kept decoded: its own workflow's scheduler has its outcome already, and nearly every
 * receipt is never read from the memo again; keeping each for a few hundred milliseconds made
 * V8 promote it, and then allocate receipts in the old space outright (~1.6 KB promoted and
 * ~1.9 KB of old space per single-step workflow). The first read decodes the packed entry.
 */
const RECENT = 1024;
/** Packed bytes of one generation of decoded entries, at most (about; one entry may pass it). */
const RECENT_BYTES = 4 << 20;

function unpack(bytes: Uint8Array): MemoEntry {
  if (bytes[0] === EVENT) return entryOf(decodeEvent(bytes.subarray(1)) as ReceiptEvent);
  const [receipt, rest] = CID.decodeFirst(bytes.subarray(1));
  const [instruction, body] = CID.decodeFirst(rest);
  const parsed = parseReceipt(dagCbor.decode(body), 'body');
  return { instruction, receipt, invocation: parsed.ran, body: parsed };
}

/** Where the memo keeps its index. */
export interface MemoOptions extends SlabsOptions {
  /**
   * The workflows' CIDs, shared with the engine's other registries of every workflow (each is
   * held once); default: the memo's own.
   */
  workflows?: KeyIndex;
}

/**
 * Creates an empty memo. Entries are kept packed (`Slabs`: DAG-CBOR bytes in shared buffers,
 * about 200 B a receipt) and decoded when asked for; the most recently read are also kept
 * decoded.
 * A decoded entry costs ~5 KB of heap (its CIDs alone are ~400 B each), which a memo of every
 * receipt a node ever wrote cannot afford. With `spillDir` the packed entries past the slab
 * being filled live in a scratch file there, read back on a hit older than the decoded ones.
 */
export function createMemo(options: MemoOptions = {}): OwnedMemo {
  // What is kept of every instruction, off the heap (key-index.ts): its number in `index`, its
  // packed entry's handle and the workflow its receipt was first written for at that number
  // (~40 B of memory an instruction with a spill directory, which takes the CIDs' bytes; ~100 B
  // without; against ~300 B of heap as strings in Maps — which V8 also let grow to twice that
  // before collecting).
  const index = new KeyIndex({ spillDir: options.spillDir });
  const handles = new NumberColumn();
  const ownWorkflows = options.workflows === undefined;
  const workflows = options.workflows ?? new KeyIndex({ spillDir: options.spillDir });
  /** The number in `workflows` of each instruction's first writer. */
  const writers = new NumberColumn();
  /** Further writers of an instruction written for several workflows (rare). */
  const moreWriters = new Map<number, Set<number>>();
  const slabs = new Slabs(options);
  // Two generations: a hit in the old one moves to the young one; a full young one becomes old.
  let young = new Map<string, MemoEntry>();
  let old = new Map<string, MemoEntry>();
  let youngBytes = 0;
  const remember = (key: string, entry: MemoEntry, bytes: number): void => {
    if (young.size >= RECENT || youngBytes + bytes > RECENT_BYTES) {
      old = young;
      young = new Map();
      youngBytes = 0;
    }
    young.set(key, entry);
    youngBytes += bytes;
  };
  /** `${workflow} ${instruction}` tried with only a retryable failure so far (rare: a Set). */
  const attempts = new Set<string>();
  /**
   * Notes that a settling receipt of `key` was written for `w`. Returns the instruction's number
   * when it was new, and the caller then keeps its packed entry at that number; else -1.
   */
  const noteWritten = (key: string, w: string): number => {
    if (attempts.size > 0) attempts.delete(`${w} ${key}`);
    const known = index.size;
    const i = index.add(key);
    const wid = workflows.add(w);
    if (i >= known) {
      writers.set(i, wid);
      return i;
    }
    if (writers.get(i) === wid) return -1;
    const more = moreWriters.get(i);
    if (more === undefined) moreWriters.set(i, new Set([wid]));
    else more.add(wid);
    return -1;
  };
  const get = (instruction: string): MemoEntry | undefined => {
    const recent = young.get(instruction);
    if (recent !== undefined) return recent;
    const i = index.id(instruction);
    if (i < 0) return undefined;
    const handle = handles.get(i);
    const kept = old.get(instruction);
    if (kept !== undefined) {
      remember(instruction, kept, slabs.lengthOf(handle));
      return kept;
    }
    const packed = slabs.get(handle); // (read from the spill file once spilled)
    const entry = unpack(packed);
    remember(instruction, entry, packed.length);
    return entry;
  };
  const written = (instruction: string, workflow: string | null): boolean => {
    const i = index.id(instruction);
    if (i < 0) return false;
    const wid = workflows.id(workflow ?? SOLO);
    return wid >= 0 && (writers.get(i) === wid || moreWriters.get(i)?.has(wid) === true);
  };
  return {
    get,
    has: (instruction) => index.id(instruction) >= 0,
    written,
    attempted(instruction, workflow) {
      return attempts.size > 0 && attempts.has(`${workflow ?? SOLO} ${instruction}`);
    },
    put(event) {
      const key = event.instruction.toString();
      const w = event.workflow?.toString() ?? SOLO;
      if (isRetryableFailure(event.body.out)) {
        if (!written(key, w)) attempts.add(`${w} ${key}`);
        return false;
      }
      const i = noteWritten(key, w);
      if (i < 0) return false;
      // (encoded only for a new instruction: most puts are of one already kept)
      const body = knownEncoding(event.body) ?? dagCbor.encode(event.body);
      handles.set(i, slabs.add([KIND_ENTRY, event.receipt.bytes, event.instruction.bytes, body]));
      return true;
    },
    putLazy(routing, bytes) {
      if (routing.outcome === 'transient') {
        if (!written(routing.instruction, routing.workflow))
          attempts.add(`${routing.workflow} ${routing.instruction}`);
        return false;
      }
      const i = noteWritten(routing.instruction, routing.workflow);
      if (i < 0) return false;
      handles.set(i, slabs.add([KIND_EVENT, bytes]));
      return true;
    },
    get size() {
      return index.size;
    },
    get packedBytes() {
      return slabs.bytes;
    },
    get residentBytes() {
      return slabs.residentBytes;
    },
    get spilledBytes() {
      return slabs.spilledBytes;
    },
    keptBytes() {
      const own = ownWorkflows ? workflows : undefined;
      return {
        memory:
          slabs.residentBytes + index.bytes + (own?.bytes ?? 0) + handles.bytes + writers.bytes,
        file: slabs.spilledBytes + index.spilledBytes + (own?.spilledBytes ?? 0),
      };
    },
    *entries() {
      // Each unpacked from its slab, in the order added: a spilled slab is read once, and the
      // instruction's CID is neither read back nor decoded to look for a decoded copy.
      const count = index.size;
      function* inOrder(): Generator<number> {
        for (let i = 0; i < count; i++) yield handles.get(i);
      }
      for (const bytes of slabs.read(inOrder())) yield unpack(bytes);
    },
    close() {
      slabs.close();
      index.close();
      if (ownWorkflows) workflows.close();
    },
  };
}
