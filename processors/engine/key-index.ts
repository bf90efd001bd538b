/**
 * Strings a process keeps for its whole life — the CIDs of every instruction and workflow it
 * saw — each named by a small number, off V8's heap, their bytes in a scratch file once a node
 * has one.
 *
 * @module
 */
import { SpillFile } from './spill-file.ts';

/** Bytes of one chunk of keys; a key longer than a quarter of it gets a chunk of its own. */
const CHUNK_BYTES = 1 << 16;
/** A key's place is `chunk << CHUNK_BITS | word offset` in a 32-bit number. */
const CHUNK_BITS = 14;
const CHUNK_WORDS = CHUNK_BYTES / 4;
/** Chunks at most (the place's 18 high bits): 16 GiB of keys. */
const MAX_CHUNKS = 1 << (32 - CHUNK_BITS);
/** Numbers per page of a column: columns grow a page at a time, never copied. */
const PAGE_BITS = 13;
const PAGE = 1 << PAGE_BITS;
/** A key as kept, in 4-byte words: its length in bytes, then its UTF-8 bytes. */
const HEADER_WORDS = 1;
/** Bytes of the longest key held (a CID is ~60). */
const MAX_KEY_BYTES = (1 << 20) - HEADER_WORDS * 4;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The key being looked up, as UTF-8 bytes padded with zeros to whole words. */
let scratch = new Uint8Array(256);
let scratchWords = new Int32Array(scratch.buffer);

/** Writes `key`'s UTF-8 bytes to {@link scratch}, zero-padded to a word; returns their number. */
function encode(key: string): number {
  // A UTF-16 code unit is at most 3 bytes of UTF-8.
  if (scratch.length < key.length * 3 + 4) {
    scratch = new Uint8Array(key.length * 6 + 8);
    scratchWords = new Int32Array(scratch.buffer);
  }
  const { written } = encoder.encodeInto(key, scratch);
  for (let i = written; (i & 3) !== 0; i++) scratch[i] = 0;
  return written;
}

const words = (bytes: number): number => (bytes + 3) >>> 2;

/** MurmurHash3 (x86, 32-bit) over the first `n` words of `w`, then the byte length. */
function hash(w: Int32Array, n: number, length: number): number {
  let h = 0x9747b28c;
  for (let i = 0; i < n; i++) {
    let k = Math.imul(w[i]!, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** Bytes something keeps, by where: in memory, or in a spill file. */
export interface HeldBytes {
  memory: number;
  file: number;
}

/** The sum of `parts`, by where (an absent part counts nothing). */
export function sumHeld(parts: Iterable<HeldBytes | undefined>): HeldBytes {
  const sum = { memory: 0, file: 0 };
  for (const part of parts) {
    sum.memory += part?.memory ?? 0;
    sum.file += part?.file ?? 0;
  }
  return sum;
}

/** Words of a spilled key read back, grown as needed. */
let readBack = new Int32Array(64);

/** Where a {@link KeyIndex} keeps the bytes of its keys. */
export interface KeyIndexOptions {
  /**
   * Directory for a scratch file ({@link SpillFile}): a chunk of keys is written there once
   * two newer ones have been opened, and dropped from memory; a key in it is read back (one
   * `pread`) when a lookup's hash matches it or when {@link KeyIndex.key} asks for it. Without
   * one (or when it cannot be written) every chunk stays in memory.
   */
  spillDir?: string;
}

/**
 * An append-only set of strings, each named by its position: 0, 1, 2… in the order added. It
 * holds what a `Map<string, …>` of every CID a node ever saw held on the heap — a string object
 * (~80 B for a CID) and an entry in a hash table that V8 doubles in its large-object space, all
 * of which V8 lets grow to twice itself before its next full collection — off the heap: each
 * key's hash and place (4 B each, in pages by its number) and an open-addressing table of
 * numbers (~6 B a key) in memory, and its bytes (64 B for a 59-character CID) in 64 KiB
 * chunks, which with a spill directory move to a scratch file as newer ones fill. Memory per
 * key is then ~17 B at a million keys (21 at 100 000), whatever their length. What is kept
 * per key goes in {@link NumberColumn}s indexed by the same numbers.
 *
 * A lookup encodes the key (native), hashes it, and compares it a word at a time with the keys
 * of the same hash: 100–200 ns for a CID, against a `Map`'s ~60 once V8 has hashed the string
 * (but ~200 for a string it has not: a CID read back is a new string); the last four keys asked
 * for are answered by a string comparison. A key found in a chunk that was spilled costs a
 * `pread` more (a page-cache copy, 1–2 µs); a key not held is told apart by its 32-bit hash,
 * without reading any. Keys are never removed.
 */
export class KeyIndex {
  /**
   * Open addressing, linear probing: each key's `number + 1`, 0 when free. A probe reads a slot
   * and the key's hash; only a key of the same hash is compared.
   */
  #slots = new Uint32Array(PAGE * 2);
  /** Each key's hash by its number, a page at a time. */
  #hashes: Int32Array[] = [];
  /** Each key's place in `#chunks` by its number, a page at a time. */
  #places: Uint32Array[] = [];
  /** Each chunk's words; `undefined` once it is in the spill file. */
  #chunks: (Int32Array | undefined)[] = [];
  /** Each chunk's length in words (a long key's is its own size). */
  #chunkWords: number[] = [];
  /** Each spilled chunk's position in the spill file. */
  #spilledAt: number[] = [];
  #spillDir: string | undefined;
  #spill: SpillFile | undefined;
  #closed = false;
  /** Chunks below this one were spilled, are being written, or stay in memory for good. */
  #spillFrom = 0;
  #writing = 0;
  /** Index of the chunk short keys go to (`-1`: none yet), and words used of it. */
  #open = -1;
  #used = 0;
  #size = 0;
  // The last four keys asked for and their numbers (-1 for one not held): a key is often asked
  // for again soon (a new workflow's submission asks whether it ran before twice; the memo is
  // asked for a task's instruction and then whether it was written for the workflow), and a
  // string comparison is far cheaper than encoding, hashing and finding it.
  #k0: string | undefined;
  #k1: string | undefined;
  #k2: string | undefined;
  #k3: string | undefined;
  #i0 = -1;
  #i1 = -1;
  #i2 = -1;
  #i3 = -1;
  #turn = 0;

  constructor(options: KeyIndexOptions = {}) {
    this.#spillDir = options.spillDir;
  }

  /** Keys held. */
  get size(): number {
    return this.#size;
  }

  /** Bytes held in memory: chunks not spilled, slots, hashes and places. */
  get bytes(): number {
    let chunks = 0;
    for (const c of this.#chunks) chunks += c?.byteLength ?? 0;
    return chunks + this.#slots.byteLength + this.#places.length * PAGE * 8;
  }

  /** Bytes of keys in the spill file. */
  get spilledBytes(): number {
    let n = 0;
    for (let c = 0; c < this.#chunks.length; c++)
      if (this.#chunks[c] === undefined) n += this.#chunkWords[c]! * 4;
    return n;
  }

  /** Chunks being written to the spill file now. */
  get writing(): number {
    return this.#writing;
  }

  /** The number of `key`, or -1 when it was never added. */
  id(key: string): number {
    const recent = this.#recent(key);
    if (recent !== -2) return recent;
    const length = encode(key);
    const id = this.#find(length, hash(scratchWords, words(length), length));
    this.#remember(key, id);
    return id;
  }

  /** The number of `key`, added when new. */
  add(key: string): number {
    const recent = this.#recent(key);
    if (recent >= 0) return recent;
    const length = encode(key);
    const n = words(length);
    const h = hash(scratchWords, n, length);
    const found = this.#find(length, h);
    if (found >= 0) {
      this.#remember(key, found);
      return found;
    }
    if (length > MAX_KEY_BYTES)
      throw new RangeError(
        `key "${key.slice(0, 64)}…" is ${length} bytes: longer than a key may be (${MAX_KEY_BYTES})`,
      );
    const place = this.#reserve(HEADER_WORDS + n);
    const chunk = this.#chunks[place >>> CHUNK_BITS]!;
    const at = place & (CHUNK_WORDS - 1);
    chunk[at] = length;
    for (let i = 0; i < n; i++) chunk[at + HEADER_WORDS + i] = scratchWords[i]!;
    const id = this.#size++;
    if ((id & (PAGE - 1)) === 0) {
      this.#places.push(new Uint32Array(PAGE));
      this.#hashes.push(new Int32Array(PAGE));
    }
    this.#places[id >>> PAGE_BITS]![id & (PAGE - 1)] = place;
    this.#hashes[id >>> PAGE_BITS]![id & (PAGE - 1)] = h;
    // At most three quarters full: a probe then visits ~2.5 slots on average.
    this.#slot(this.#slots, id, h);
    if (this.#size * 4 > this.#slots.length * 3) this.#rehash();
    this.#remember(key, id);
    return id;
  }

  /** The number of `key` (-1: not held) if it is one of the last four asked for, else -2. */
  #recent(key: string): number {
    if (key === this.#k0) return this.#i0;
    if (key === this.#k1) return this.#i1;
    if (key === this.#k2) return this.#i2;
    if (key === this.#k3) return this.#i3;
    return -2;
  }

  /** Notes `key`'s number (-1: not held), over what was noted of it before. */
  #remember(key: string, id: number): void {
    if (key === this.#k0) this.#i0 = id;
    else if (key === this.#k1) this.#i1 = id;
    else if (key === this.#k2) this.#i2 = id;
    else if (key === this.#k3) this.#i3 = id;
    else this.#replace(key, id);
  }

  #replace(key: string, id: number): void {
    switch (this.#turn) {
      case 0:
        this.#k0 = key;
        this.#i0 = id;
        break;
      case 1:
        this.#k1 = key;
        this.#i1 = id;
        break;
      case 2:
        this.#k2 = key;
        this.#i2 = id;
        break;
      default:
        this.#k3 = key;
        this.#i3 = id;
    }
    this.#turn = (this.#turn + 1) & 3;
  }

  /** The key numbered `id`, decoded from its bytes (read back if spilled). */
  key(id: number): string {
    if (!(Number.isInteger(id) && id >= 0 && id < this.#size))
      throw new RangeError(`no key numbered ${id}`);
    const place = this.#placeOf(id);
    const c = place >>> CHUNK_BITS;
    const at = place & (CHUNK_WORDS - 1);
    const chunk = this.#chunks[c];
    if (chunk !== undefined)
      return decoder.decode(new Uint8Array(chunk.buffer, (at + HEADER_WORDS) * 4, chunk[at]));
    const position = this.#spilledAt[c]! + at * 4;
    const length = this.#read(position, HEADER_WORDS)[0]!;
    const bytes = new Uint8Array(length);
    this.#spill!.read(position + HEADER_WORDS * 4, bytes);
    return decoder.decode(bytes);
  }

  /**
   * Closes the spill file once the chunks being written are there: keys in it can no longer be
   * read (a lookup that would compare one throws).
   */
  close(): void {
    this.#closed = true;
    this.#spill?.close();
    this.#spillDir = undefined;
  }

  #placeOf(id: number): number {
    return this.#places[id >>> PAGE_BITS]![id & (PAGE - 1)]!;
  }

  /** The number of the key in {@link scratch} (`length` bytes, hashing to `h`), or -1. */
  #find(length: number, h: number): number {
    const slots = this.#slots;
    const mask = slots.length - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const v = slots[s]!;
      if (v === 0) return -1;
      const id = v - 1;
      if (this.#hashes[id >>> PAGE_BITS]![id & (PAGE - 1)] === h && this.#holds(id, length))
        return id;
    }
  }

  /** Whether key `id` is the `length` bytes in {@link scratch}. */
  #holds(id: number, length: number): boolean {
    const place = this.#placeOf(id);
    const c = place >>> CHUNK_BITS;
    let at = place & (CHUNK_WORDS - 1);
    const n = words(length);
    let chunk = this.#chunks[c];
    if (chunk === undefined) {
      // Its hash matched: read as many words as the key would take, if the chunk has them.
      const count = HEADER_WORDS + n;
      if (at + count > this.#chunkWords[c]!) return false;
      chunk = this.#read(this.#spilledAt[c]! + at * 4, count);
      at = 0;
    }
    if (chunk[at] !== length) return false;
    const from = at + HEADER_WORDS;
    let i = 0;
    while (i < n && chunk[from + i] === scratchWords[i]) i++;
    return i === n;
  }

  /** `count` words at `position` of the spill file, in {@link readBack}. */
  #read(position: number, count: number): Int32Array {
    if (readBack.length < count) readBack = new Int32Array(count * 2);
    const spill = this.#spill;
    if (spill === undefined) throw new Error('key index closed');
    spill.read(position, new Uint8Array(readBack.buffer, 0, count * 4));
    return readBack;
  }

  /** Room for `n` words; returns their place. */
  #reserve(n: number): number {
    if (n > CHUNK_WORDS / 4) {
      // A long key gets a chunk of its own; the open chunk stays open.
      return (this.#newChunk(n) << CHUNK_BITS) >>> 0;
    }
    if (this.#open < 0 || this.#used + n > CHUNK_WORDS) {
      const before = this.#open;
      this.#open = this.#newChunk(CHUNK_WORDS);
      this.#used = 0;
      // The chunk just filled stays in memory (keys of workflows in flight are in it or the
      // open one); those before it go to the spill file.
      if (before > 0) this.#spillBelow(before);
    }
    const place = (this.#open << CHUNK_BITS) | this.#used;
    this.#used += n;
    return place >>> 0;
  }

  #newChunk(n: number): number {
    if (this.#chunks.length >= MAX_CHUNKS)
      throw new RangeError(`more than ${MAX_CHUNKS} chunks of keys`);
    this.#chunkWords.push(n);
    this.#spilledAt.push(-1);
    return this.#chunks.push(new Int32Array(n)) - 1;
  }

  /** Starts writing every chunk below `limit` not yet written to the spill file, if any. */
  #spillBelow(limit: number): void {
    if (this.#spillDir === undefined) return;
    const spill = (this.#spill ??= SpillFile.tryOpen(this.#spillDir));
    if (spill === undefined) {
      this.#spillDir = undefined; // cannot create it: keep every chunk in memory
      return;
    }
    for (; this.#spillFrom < limit; this.#spillFrom++) {
      const c = this.#spillFrom;
      const chunk = this.#chunks[c];
      if (chunk === undefined || c === this.#open) continue;
      this.#writing++;
      spill.append(new Uint8Array(chunk.buffer), (error, position) => {
        this.#writing--;
        if (error !== null || this.#closed) return; // it stays in memory
        this.#spilledAt[c] = position;
        this.#chunks[c] = undefined;
      });
    }
  }

  #slot(slots: Uint32Array, id: number, h: number): void {
    const mask = slots.length - 1;
    let s = h & mask;
    while (slots[s] !== 0) s = (s + 1) & mask;
    slots[s] = id + 1;
  }

  #rehash(): void {
    const slots = new Uint32Array(this.#slots.length * 2);
    for (let id = 0; id < this.#size; id++)
      this.#slot(slots, id, this.#hashes[id >>> PAGE_BITS]![id & (PAGE - 1)]!);
    this.#slots = slots;
  }
}

/**
 * A number per key of a {@link KeyIndex} (8 B each, `NaN` for a key given none), in pages of
 * 8 192 that are added as keys are, never copied.
 */
export class NumberColumn {
  #pages: Float64Array[] = [];

  /** Bytes of its pages. */
  get bytes(): number {
    return this.#pages.length * PAGE * 8;
  }

  /** The number of key `id`; `NaN` when none was set. */
  get(id: number): number {
    const page = this.#pages[id >>> PAGE_BITS];
    return page === undefined ? Number.NaN : page[id & (PAGE - 1)]!;
  }

  /** Sets key `id`'s number (`NaN` clears it). */
  set(id: number, value: number): void {
    const p = id >>> PAGE_BITS;
    while (this.#pages.length <= p) this.#pages.push(new Float64Array(PAGE).fill(Number.NaN));
    this.#pages[p]![id & (PAGE - 1)] = value;
  }
}
