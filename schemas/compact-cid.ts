/**
 * The CIDs the node makes by the million: CIDv1, dag-cbor, sha3-256 (`bafyrmi…`), hashed here
 * (cid.ts) or read from DAG-CBOR (codecs.ts). Internal to `schemas/` (not exported by its
 * index: `cidV1Text` is re-exported by cid.ts); they are multiformats `CID`s to everyone else.
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';

/** `01 71 16 20`: CIDv1, dag-cbor, sha3-256, 32 bytes. */
const SHA3_CBOR_PREFIX = Uint8Array.of(0x01, 0x71, 0x16, 0x20);
const SHA3_CBOR_BYTES = 36;

// CIDs are small and many live as long as the memo: each with its own ArrayBuffer cost about
// 430 bytes beside its 36 (the buffer object and its native backing store). They are cut from
// shared 4 KiB slabs instead, as Node pools small Buffers (a slab stays alive while one of its
// 113 CIDs does).
const SLAB_BYTES = SHA3_CBOR_BYTES * 113;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

/** 36 bytes of a slab, the prefix written: the caller writes the digest at 4…35. */
export function sha3CborCidBytes(): Uint8Array {
  if (slabUsed + SHA3_CBOR_BYTES > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const bytes = slab.subarray(slabUsed, (slabUsed += SHA3_CBOR_BYTES));
  bytes.set(SHA3_CBOR_PREFIX);
  return bytes;
}

/** True when `bytes` are exactly a CIDv1 dag-cbor sha3-256 (prefix and length). */
export function isSha3CborCid(bytes: Uint8Array): boolean {
  return (
    bytes.length === SHA3_CBOR_BYTES &&
    bytes[0] === 0x01 &&
    bytes[1] === 0x71 &&
    bytes[2] === 0x16 &&
    bytes[3] === 0x20
  );
}

const BASE32_CODES = Uint8Array.from('abcdefghijklmnopqrstuvwxyz234567', (c) => c.charCodeAt(0));
let textScratch = Buffer.alloc(1 + Math.ceil((SHA3_CBOR_BYTES * 8) / 5));

/**
 * The text of a CIDv1 from its bytes: multibase base32 (`b…`, RFC 4648 lower case, no
 * padding), what `CID#toString()` gives. Written as latin1 from a scratch buffer: about three
 * times faster than building the string a character at a time, and the string is flat (a map
 * key at once).
 */
export function cidV1Text(bytes: Uint8Array): string {
  const size = 1 + Math.ceil((bytes.length * 8) / 5);
  if (size > textScratch.length) textScratch = Buffer.alloc(size);
  const out = textScratch;
  let n = 0;
  out[n++] = 0x62; // 'b'
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < bytes.length; i++) {
    buffer = ((buffer << 8) | bytes[i]!) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out[n++] = BASE32_CODES[(buffer >>> bits) & 31]!;
    }
  }
  if (bits > 0) out[n++] = BASE32_CODES[(buffer << (5 - bits)) & 31]!;
  return out.toString('latin1', 0, n);
}

const BASE32_VALUES = new Int8Array(128).fill(-1);
for (const [i, c] of BASE32_CODES.entries()) BASE32_VALUES[c] = i;
const fromTextScratch = new Uint8Array(SHA3_CBOR_BYTES);

/**
 * The CID of the text {@link cidV1Text} writes for a CIDv1 dag-cbor sha3-256 (`bafyrmi…`, 59
 * characters), without multiformats' generic parse (~2 µs); `undefined` for any other text,
 * which `CID.parse` then reads (or refuses). The text must be canonical: its last character's
 * unused bits zero, as multiformats requires.
 */
export function sha3CborCidFromText(text: string): CID | undefined {
  if (text.length !== 59 || text.charCodeAt(0) !== 0x62) return undefined;
  const out = fromTextScratch;
  let buffer = 0;
  let bits = 0;
  let n = 0;
  for (let i = 1; i < 59; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? BASE32_VALUES[c]! : -1;
    if (v < 0) return undefined;
    buffer = ((buffer << 5) | v) & 0x1fff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (buffer >> bits) & 0xff;
    }
  }
  if ((buffer & ((1 << bits) - 1)) !== 0 || !isSha3CborCid(out)) return undefined;
  return sha3CborCidFrom(out);
}

/**
 * A CID that keeps its text. A workflow's CIDs are turned into text ~40 times on its way
 * through the engine (keys of maps, routing headers, subscribers): multiformats caches the text
 * in a WeakMap of Maps (~0.15 µs a lookup) after a first base32 encoding of 1–5 µs. Only the
 * default base is kept; another base goes to multiformats.
 */
class TextCid extends CID<unknown, 0x71, 0x16, 1> {
  #text: string | undefined;

  override toString(base?: Parameters<CID['toString']>[0]): string {
    if (base !== undefined) return super.toString(base);
    return (this.#text ??= cidV1Text(this.bytes));
  }
}

/** The CID over 36 bytes from {@link sha3CborCidBytes} (the digest written), not copied. */
export function sha3CborCidOver(bytes: Uint8Array): CID {
  return new TextCid(
    1,
    0x71,
    new Digest.Digest(0x16, 32, bytes.subarray(4), bytes.subarray(2)),
    bytes,
  );
}

/** A copy of CID bytes that {@link isSha3CborCid} accepts, as a CID. */
export function sha3CborCidFrom(bytes: Uint8Array): CID {
  const own = sha3CborCidBytes();
  own.set(bytes);
  return sha3CborCidOver(own);
}
