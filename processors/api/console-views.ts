/**
 * How the console shows values: IPLD values as DAG-JSON (links and bytes in their DAG-JSON
 * form), byte outputs as an image (PNG, JPEG) or hex, and task arguments with their awaits
 * replaced by the awaited outputs.
 *
 * @module
 */
import { dagJson } from '../../schemas/codecs.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import type { Await } from '../../schemas/types.ts';
import { readAwait } from '../../schemas/model.ts';
import type { Memo } from '../engine/memo.ts';

/** Bytes beyond this are not sent whole (the hex view shows the first {@link HEX_PREVIEW_BYTES}). */
export const MAX_INLINE_BYTES = 1024 * 1024;
/** Bytes shown in a hex view. */
export const HEX_PREVIEW_BYTES = 4096;

/** An output as the console shows it. */
export type ValueView =
  | { type: 'json'; text: string }
  | {
      type: 'bytes';
      length: number;
      /** `image/png` or `image/jpeg` when the bytes start like one, else null. */
      mime: 'image/png' | 'image/jpeg' | null;
      /** The bytes, base64, when an image of at most {@link MAX_INLINE_BYTES}. */
      base64: string | null;
      /** Hex of the first {@link HEX_PREVIEW_BYTES} bytes. */
      hex: string;
    };

/** The image type of bytes, by their signature. */
export function sniffImage(bytes: Uint8Array): 'image/png' | 'image/jpeg' | null {
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length >= 8 && png.every((b, i) => bytes[i] === b)) return 'image/png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff)
    return 'image/jpeg';
  return null;
}

/** DAG-JSON text of a value, indented. */
export function jsonText(value: unknown): string {
  return JSON.stringify(JSON.parse(dagJson.stringify(value)), null, 2);
}

/** The view of an output value. */
export function valueView(value: IpldValue): ValueView {
  if (!(value instanceof Uint8Array)) return { type: 'json', text: jsonText(value) };
  const mime = sniffImage(value);
  return {
    type: 'bytes',
    length: value.length,
    mime,
    base64:
      mime !== null && value.length <= MAX_INLINE_BYTES
        ? Buffer.from(value.buffer, value.byteOffset, value.length).toString('base64')
        : null,
    hex: Buffer.from(value.buffer, value.byteOffset, Math.min(value.length, HEX_PREVIEW_BYTES))
      .toString('hex')
      .replace(/(.{2})/g, '$1 ')
      .trim(),
  };
}

/** The await a value is, or null (also for a malformed one: shown as it is). */
export function awaitOf(value: IpldValue): Await | null {
  try {
    return readAwait(value, '');
  } catch {
    return null;
  }
}

/**
 * A value with every await replaced by what it awaits, read from the memo: `await/ok` and
 * `await/error` by the output, `await/*` by the whole `["ok"|"error", value]` pair. Awaits whose
 * receipt is not known (yet) stay as they are.
 */
export function resolveAwaits(value: IpldValue, memo: Memo | undefined, depth = 0): IpldValue {
  if (depth > 64 || value === null || typeof value !== 'object' || value instanceof Uint8Array)
    return value;
  if (Array.isArray(value)) return value.map((v) => resolveAwaits(v, memo, depth + 1));
  const a = awaitOf(value);
  if (a !== null) {
    const out = memo?.get(a.instruction.toString())?.body.out;
    if (out === undefined) return value;
    if (a.selector === 'await/*') return [out[0], out[1]];
    return (a.selector === 'await/ok') === (out[0] === 'ok') ? out[1] : value;
  }
  if ('/' in value) return value; // a link
  const copy: Record<string, IpldValue> = {};
  for (const [k, v] of Object.entries(value as Record<string, IpldValue>))
    copy[k] = resolveAwaits(v, memo, depth + 1);
  return copy;
}
