/**
 * Text cut straight from bytes, for the codecs' readers (internal to `schemas/`): ASCII through
 * Node's native latin1 slicing, anything else through a strict UTF-8 decoder.
 *
 * @module
 */

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** Node's native latin1 (for ASCII: the text itself) slicing, which takes any Uint8Array. */
const latin1Slice = (
  Buffer.prototype as unknown as {
    latin1Slice: (this: Uint8Array, start: number, end: number) => string;
  }
).latin1Slice;

/**
 * The text of `bytes[start, end)`, or `undefined` when they are not valid UTF-8. `ascii`: the
 * caller has seen that every byte is below 0x80 (otherwise this looks).
 */
export function utf8Text(
  bytes: Uint8Array,
  start: number,
  end: number,
  ascii = false,
): string | undefined {
  if (!ascii) {
    ascii = true;
    for (let i = start; i < end; i++) {
      if (bytes[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
  }
  if (ascii) return latin1Slice.call(bytes, start, end);
  try {
    return strictUtf8.decode(bytes.subarray(start, end));
  } catch {
    return undefined;
  }
}
