/**
 * DAG-CBOR map key order, shared by the encoder (codecs.ts) and the composer of pre-encoded
 * values (compose.ts): shorter keys first, then bytewise by their UTF-8 bytes. Internal to
 * `schemas/` (not exported by its index).
 *
 * @module
 */

/** Matches a key with a character outside ASCII (whose UTF-16 order is not its byte order). */
export const NON_ASCII = /[\u0080-\uffff]/;

/** Key order for ASCII keys, where UTF-16 order is byte order. */
export function compareAsciiKeys(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Key order over UTF-8 bytes. */
export function compareKeyBytes(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return 0;
}

/**
 * Sorts a short array in place. The maps of tasks, receipts and events have a handful of keys:
 * an insertion sort allocates nothing, where `Array.prototype.sort` copies the array into a
 * work array on every call (9 KB of the ~100 KB a single-step workflow allocated). Longer
 * arrays go to `Array.prototype.sort`.
 */
export function sortSmall<T>(xs: T[], compare: (a: T, b: T) => number): void {
  const n = xs.length;
  if (n > 32) {
    xs.sort(compare);
    return;
  }
  for (let i = 1; i < n; i++) {
    const x = xs[i]!;
    let j = i - 1;
    while (j >= 0 && compare(xs[j]!, x) > 0) {
      xs[j + 1] = xs[j]!;
      j--;
    }
    xs[j + 1] = x;
  }
}
