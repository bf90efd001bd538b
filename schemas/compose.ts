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

const byAsciiKey = (a: { key: string }, b: { key: string }): number =>
  compareAsciiKeys(a.key, b.key);
const byKeyBytes = (a: { bytes: Uint8Array | null }, b: { bytes: Uint8Array | null }): number =>
  compareKeyBytes(a.bytes!, b.bytes!);

/**
 * Encodes a map whose values are given as DAG-CBOR bytes. Entries given in DAG-CBOR's key
 * order with ASCII keys (how the model's own encoders call it) are written as they are.
 */
export function composeMap(entries: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  // One allocation for the result; ASCII keys (the usual case) are written without TextEncoder.
  let ascii = true;
  let inOrder = true;
  for (let i = 0; i < entries.length; i++) {
    const k = entries[i]![0];
    if (NON_ASCII.test(k)) ascii = false;
    else if (i > 0 && compareAsciiKeys(entries[i - 1]![0], k) >= 0) inOrder = false;
  }
  if (ascii && inOrder) return writeOrdered(entries);
  let sorted: Array<{ key: string; bytes: Uint8Array | null; value: Uint8Array }>;
  if (ascii) {
    sorted = entries.map(([key, value]) => ({ key, bytes: null, value }));
    sortSmall(sorted, byAsciiKey);
  } else {
    sorted = entries.map(([key, value]) => ({ key, bytes: utf8.encode(key), value }));
    sortSmall(sorted, byKeyBytes);
  }
  let size = headSize(sorted.length);
  for (const e of sorted) {
    const keyLength = e.bytes === null ? e.key.length : e.bytes.length;
    size += headSize(keyLength) + keyLength + e.value.length;
  }
  const out = new Uint8Array(size);
  let at = writeHead(out, 0, 5, sorted.length);
  for (const e of sorted) {
    if (e.bytes === null) {
      const k = e.key;
      at = writeHead(out, at, 3, k.length);
      for (let i = 0; i < k.length; i++) out[at++] = k.charCodeAt(i);
    } else {
      at = writeHead(out, at, 3, e.bytes.length);
      out.set(e.bytes, at);
      at += e.bytes.length;
    }
    out.set(e.value, at);
    at += e.value.length;
  }
  return out;
}

/** The map of ASCII-keyed entries already in key order: no sort, nothing but the result. */
function writeOrdered(entries: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  let size = headSize(entries.length);
  for (const [k, v] of entries) size += headSize(k.length) + k.length + v.length;
  const out = new Uint8Array(size);
  let at = writeHead(out, 0, 5, entries.length);
  for (const [k, v] of entries) {
    at = writeHead(out, at, 3, k.length);
    for (let i = 0; i < k.length; i++) out[at++] = k.charCodeAt(i);
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
