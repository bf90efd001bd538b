/**
 * Builds DAG-CBOR containers from values that are already encoded, so that a task, its
 * invocation and its workflow are addressed without encoding the instruction again.
 * The output is byte-identical to encoding the whole value (tested).
 *
 * @module
 */

import { compareAsciiKeys, compareKeyBytes, NON_ASCII, sortSmall } from './key-order.ts';

const utf8 = new TextEncoder();

/** A CBOR head (major type + argument), minimal length as DAG-CBOR requires. */
export function cborHead(major: number, n: number): Uint8Array {
  const m = major << 5;
  if (n < 24) return Uint8Array.of(m | n);
  if (n < 0x100) return Uint8Array.of(m | 24, n);
  if (n < 0x10000) return Uint8Array.of(m | 25, n >> 8, n & 0xff);
  if (n < 0x1_0000_0000) {
    return Uint8Array.of(m | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
  }
  const out = new Uint8Array(9);
  out[0] = m | 27;
  new DataView(out.buffer).setBigUint64(1, BigInt(n));
  return out;
}

function headSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x1_0000_0000 ? 5 : 9;
}

/** Writes a head into `out` at `at`; returns the position after it. */
function writeHead(out: Uint8Array, at: number, major: number, n: number): number {
  if (n < 24) {
    out[at] = (major << 5) | n;
    return at + 1;
  }
  const head = cborHead(major, n);
  out.set(head, at);
  return at + head.length;
}

const byAsciiKey = (a: readonly [string, Uint8Array], b: readonly [string, Uint8Array]): number =>
  compareAsciiKeys(a[0], b[0]);
const byKeyBytes = (
  a: readonly [Uint8Array, Uint8Array],
  b: readonly [Uint8Array, Uint8Array],
): number => compareKeyBytes(a[0], b[0]);

/**
 * Encodes a map whose values are given as DAG-CBOR bytes. Entries given in DAG-CBOR's key
 * order with ASCII keys (how the model's own encoders call it) are written as they are.
 */
export function composeMap(entries: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  let ascii = true;
  let inOrder = true;
  for (let i = 0; i < entries.length; i++) {
    const k = entries[i]![0];
    if (NON_ASCII.test(k)) ascii = false;
    else if (i > 0 && compareAsciiKeys(entries[i - 1]![0], k) >= 0) inOrder = false;
  }
  if (!ascii) {
    // Ordered by their UTF-8 bytes, which UTF-16 order is not outside ASCII.
    const keyed = entries.map(([k, v]) => [utf8.encode(k), v] as const);
    sortSmall(keyed, byKeyBytes);
    return writeMap(keyed);
  }
  if (inOrder) return writeMap(entries);
  const sorted = entries.slice();
  sortSmall(sorted, byAsciiKey);
  return writeMap(sorted);
}

/**
 * The map of entries already in key order, each key as ASCII text (written without
 * TextEncoder) or as its UTF-8 bytes: one allocation, the result.
 */
function writeMap(entries: ReadonlyArray<readonly [string | Uint8Array, Uint8Array]>): Uint8Array {
  let size = headSize(entries.length);
  for (const [k, v] of entries) size += headSize(k.length) + k.length + v.length;
  const out = new Uint8Array(size);
  let at = writeHead(out, 0, 5, entries.length);
  for (const [k, v] of entries) {
    at = writeHead(out, at, 3, k.length);
    if (typeof k === 'string') for (let i = 0; i < k.length; i++) out[at++] = k.charCodeAt(i);
    else {
      out.set(k, at);
      at += k.length;
    }
    out.set(v, at);
    at += v.length;
  }
  return out;
}

/**
 * Encodes a list whose items are given as DAG-CBOR bytes, after `prefix` when given (encoded
 * bytes the list completes, such as a one-entry map's head and key: one allocation for both).
 */
export function composeList(items: readonly Uint8Array[], prefix?: Uint8Array): Uint8Array {
  const before = prefix?.length ?? 0;
  let size = before + headSize(items.length);
  for (const item of items) size += item.length;
  const out = new Uint8Array(size);
  if (prefix !== undefined) out.set(prefix);
  let at = writeHead(out, before, 4, items.length);
  for (const item of items) {
    out.set(item, at);
    at += item.length;
  }
  return out;
}
