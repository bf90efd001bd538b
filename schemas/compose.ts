/**
 * Builds DAG-CBOR containers from values that are already encoded, so that a task, its
 * invocation and its workflow are addressed without encoding the instruction again.
 * The output is byte-identical to encoding the whole value (tested).
 *
 * @module
 */

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

function concat(parts: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** DAG-CBOR map order: shorter keys first, then bytewise. */
function compareKeys(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return 0;
}

/** Encodes a map whose values are given as DAG-CBOR bytes. */
export function composeMap(entries: ReadonlyArray<readonly [string, Uint8Array]>): Uint8Array {
  const keyed = entries.map(([k, v]) => {
    const key = utf8.encode(k);
    return { key, head: cborHead(3, key.length), value: v };
  });
  keyed.sort((a, b) => compareKeys(a.key, b.key));
  const parts: Uint8Array[] = [cborHead(5, keyed.length)];
  for (const e of keyed) parts.push(e.head, e.key, e.value);
  return concat(parts);
}

/** Encodes a list whose items are given as DAG-CBOR bytes. */
export function composeList(items: readonly Uint8Array[]): Uint8Array {
  return concat([cborHead(4, items.length), ...items]);
}
