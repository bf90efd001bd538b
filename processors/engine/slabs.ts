/**
 * Byte strings kept for the life of the process in a few large buffers, each named by a number,
 * and optionally moved to a scratch file once their buffer is full.
 *
 * @module
 */
import { SpillFile } from './spill-file.ts';

/** Bytes of one slab; an entry larger than a quarter of it gets a buffer of its own. */
export const SLAB_BYTES = 1 << 18;
/** Handles are `slab * SPAN + offset` (offsets stay below a slab's size). */
const SPAN = 2 ** 21;

/** Where a {@link Slabs} may keep what it no longer writes to. */
export interface SlabsOptions {
  /**
   * Directory for a scratch file ({@link SpillFile}): each slab, once full, is written there
   * and dropped from memory, and an entry in it is read back from the file when asked for. The
   * process then holds one slab however much it keeps. Without it every slab stays in memory.
   */
  spillDir?: string;
}

/**
 * An append-only store of byte strings: each is copied into a shared 256 KiB slab behind a 4-byte
 * length, and named by a number. A long-lived index of a million small values (the memo) then
 * holds a million numbers and a few hundred buffers, not a million typed-array objects (each
 * ~200 B before its bytes) or decoded object graphs (~5 KB a receipt) — and with a spill
 * directory, not even the buffers: only the slab being filled.
 */
export class Slabs {
  /** Each slab's bytes; `undefined` once it is in the spill file. */
  #slabs: Array<Uint8Array | undefined> = [];
  /** Each spilled slab's position in the spill file, and its length there. */
  #spilledAt: number[] = [];
  #spilledLength: number[] = [];
  /** Index of the slab small entries go to, and how much of it is used. */
  #open = -1;
  #used = 0;
  #bytes = 0;
  #spilledBytes = 0;
  #spillDir: string | undefined;
  #spill: SpillFile | undefined;
  #header = new Uint8Array(4);
  #closed = false;

  constructor(options: SlabsOptions = {}) {
    this.#spillDir = options.spillDir;
  }

  /** Copies the concatenation of `parts`; returns its handle. */
  add(parts: readonly Uint8Array[]): number {
    let length = 0;
    for (const p of parts) length += p.length;
    const need = length + 4;
    let index: number;
    let at = 0;
    const own = need > SLAB_BYTES / 4;
    if (own) {
      // A buffer of its own (a large receipt); the open slab stays open.
      index = this.#slabs.push(new Uint8Array(need)) - 1;
    } else {
      if (this.#open < 0 || this.#used + need > SLAB_BYTES) {
        if (this.#open >= 0) this.#retire(this.#open, this.#used);
        this.#open = this.#slabs.push(new Uint8Array(SLAB_BYTES)) - 1;
        this.#used = 0;
      }
      index = this.#open;
      at = this.#used;
      this.#used += need;
    }
    const slab = this.#slabs[index]!;
    slab[at] = length >>> 24;
    slab[at + 1] = (length >>> 16) & 0xff;
    slab[at + 2] = (length >>> 8) & 0xff;
    slab[at + 3] = length & 0xff;
    let o = at + 4;
    for (const p of parts) {
      slab.set(p, o);
      o += p.length;
    }
    this.#bytes += need;
    if (own) this.#retire(index, need);
    return index * SPAN + at;
  }

  /**
   * The bytes under `handle`: a view into the slab while it is in memory (read it, do not keep
   * or write it), a fresh copy once it is in the spill file.
   */
  get(handle: number): Uint8Array {
    const index = Math.floor(handle / SPAN);
    const at = handle % SPAN;
    const slab = this.#slabs[index];
    if (slab === undefined) {
      const position = this.#spilledAt[index]! + at;
      const h = this.#spill!.read(position, this.#header);
      return this.#spill!.read(position + 4, new Uint8Array(lengthAt(h, 0)));
    }
    return slab.subarray(at + 4, at + 4 + lengthAt(slab, at));
  }

  /** The length of the bytes under `handle`, without reading them. */
  lengthOf(handle: number): number {
    const index = Math.floor(handle / SPAN);
    const at = handle % SPAN;
    const slab = this.#slabs[index];
    if (slab !== undefined) return lengthAt(slab, at);
    return lengthAt(this.#spill!.read(this.#spilledAt[index]! + at, this.#header), 0);
  }

  /**
   * Calls `fn(i, bytes)` with the bytes under each `handles[i]` (a view, valid during the call).
   * Once any slab is in the spill file they come in handle order and a spilled slab is read
   * whole, once, rather than an entry at a time: for a pass over most entries (a compaction).
   */
  forEach(handles: readonly number[], fn: (i: number, bytes: Uint8Array) => void): void {
    if (this.#spilledAt.length === 0) {
      for (let i = 0; i < handles.length; i++) fn(i, this.get(handles[i]!));
      return;
    }
    const order = new Uint32Array(handles.length);
    for (let i = 0; i < order.length; i++) order[i] = i;
    order.sort((a, b) => handles[a]! - handles[b]!);
    let k = 0;
    for (const bytes of this.read(Array.from(order, (i) => handles[i]!))) fn(order[k++]!, bytes);
  }

  /**
   * The bytes under each of `handles`, in the order given (a view, valid until the next one is
   * asked for). A spilled slab is read whole when a handle falls in it and the one before did
   * not: a pass in the order the entries were added reads each slab once.
   */
  *read(handles: Iterable<number>): Generator<Uint8Array> {
    let loaded = -1;
    let whole: Uint8Array | undefined;
    for (const handle of handles) {
      const index = Math.floor(handle / SPAN);
      const at = handle % SPAN;
      let slab = this.#slabs[index];
      if (slab === undefined) {
        if (loaded !== index) {
          loaded = index;
          const length = this.#spilledLength[index]!;
          whole = this.#spill!.read(this.#spilledAt[index]!, new Uint8Array(length));
        }
        slab = whole!;
      }
      yield slab.subarray(at + 4, at + 4 + lengthAt(slab, at));
    }
  }

  /** Bytes held, lengths included (in memory or in the spill file). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bytes in the spill file. */
  get spilledBytes(): number {
    return this.#spilledBytes;
  }

  /** Bytes held in memory (the slabs not spilled). */
  get residentBytes(): number {
    let n = 0;
    for (const s of this.#slabs) n += s?.length ?? 0;
    return n;
  }

  /** Closes the spill file; entries in it can no longer be read. */
  close(): void {
    this.#closed = true;
    this.#spill?.close();
    this.#spillDir = undefined;
  }

  /** Moves a slab no longer written to (its first `used` bytes) to the spill file, if any. */
  #retire(index: number, used: number): void {
    if (this.#spillDir === undefined) return;
    this.#spill ??= SpillFile.tryOpen(this.#spillDir);
    if (this.#spill === undefined) {
      this.#spillDir = undefined; // cannot create it: keep every slab in memory
      return;
    }
    const slab = this.#slabs[index]!;
    this.#spill.append(slab.subarray(0, used), (error, position) => {
      if (error !== null || this.#closed) return; // it stays in memory
      this.#spilledAt[index] = position;
      this.#spilledLength[index] = used;
      this.#spilledBytes += used;
      this.#slabs[index] = undefined;
    });
  }
}

function lengthAt(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 0x1000000 + (bytes[at + 1]! << 16) + ((bytes[at + 2]! << 8) | bytes[at + 3]!);
}
