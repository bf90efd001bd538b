/**
 * Byte strings kept for the life of the process in a few large buffers, each named by a number.
 *
 * @module
 */

/** Bytes of one slab; an entry larger than a quarter of it gets a buffer of its own. */
const SLAB_BYTES = 1 << 20;
/** Handles are `slab * SPAN + offset` (offsets stay below a slab's size). */
const SPAN = 2 ** 21;

/**
 * An append-only store of byte strings: each is copied into a shared 1 MiB slab behind a 4-byte
 * length, and named by a number. A long-lived index of a million small values (the memo) then
 * holds a million numbers and a few hundred buffers, not a million typed-array objects (each
 * ~200 B before its bytes) or decoded object graphs (~5 KB a receipt).
 */
export class Slabs {
  #slabs: Uint8Array[] = [];
  /** Index of the slab small entries go to, and how much of it is used. */
  #open = -1;
  #used = 0;
  #bytes = 0;

  /** Copies the concatenation of `parts`; returns its handle. */
  add(parts: readonly Uint8Array[]): number {
    let length = 0;
    for (const p of parts) length += p.length;
    const need = length + 4;
    let index: number;
    let at = 0;
    if (need > SLAB_BYTES / 4) {
      // A buffer of its own (a large receipt); the open slab stays open.
      index = this.#slabs.push(new Uint8Array(need)) - 1;
    } else {
      if (this.#open < 0 || this.#used + need > SLAB_BYTES) {
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
    return index * SPAN + at;
  }

  /** The bytes under `handle` (a view into the slab: read it, do not keep or write it). */
  get(handle: number): Uint8Array {
    const slab = this.#slabs[Math.floor(handle / SPAN)]!;
    const at = handle % SPAN;
    const length =
      slab[at]! * 0x1000000 + (slab[at + 1]! << 16) + ((slab[at + 2]! << 8) | slab[at + 3]!);
    return slab.subarray(at + 4, at + 4 + length);
  }

  /** Bytes held, lengths included. */
  get bytes(): number {
    return this.#bytes;
  }
}
