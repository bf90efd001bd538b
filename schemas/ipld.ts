/**
 * The IPLD data model as JavaScript values.
 *
 * | IPLD kind | JavaScript |
 * |---|---|
 * | null, boolean, string | `null`, `boolean`, `string` |
 * | integer | `number` when it is a safe integer, otherwise `bigint` (up to the u64/i64 range) |
 * | float | `number` that is not an integer, or {@link IpldFloat} when its value is integral |
 * | bytes | `Uint8Array` |
 * | link | multiformats `CID` |
 * | list, map | arrays, plain objects with string keys |
 *
 * JavaScript has one number type, so `1.0` and `1` would collapse into one value and re-encode
 * differently from the Rust reference (Homestar) that produced them. {@link IpldFloat} keeps
 * integral floats as floats, so re-encoding decoded canonical DAG-CBOR gives back the same bytes.
 *
 * @module
 */
import { CID } from 'multiformats/cid';

/** Any value of the IPLD data model (see the module doc for the mapping). */
export type IpldValue =
  null | boolean | number | bigint | string | Uint8Array | CID | IpldFloat | IpldValue[] | IpldMap;

/** An IPLD map: string keys, IPLD values. */
export interface IpldMap {
  [key: string]: IpldValue;
}

/**
 * A float whose value happens to be integral (`1.0`, `1e3`, `18446744073709552000`).
 * Encoded as a 64-bit CBOR float and as a JSON number with a fraction or exponent.
 *
 * @example
 * ```ts
 * dagCbor.encode(new IpldFloat(1)) // fb 3ff0000000000000
 * dagCbor.encode(1)                // 01
 * ```
 */
export class IpldFloat {
  /** The float's value. */
  readonly value: number;
  constructor(value: number) {
    this.value = value;
  }
  /** Lets `Number(f)`, `+f` and arithmetic see the plain value. */
  valueOf(): number {
    return this.value;
  }
  toJSON(): number {
    return this.value;
  }
}

/** The largest unsigned 64-bit integer: JSON integers above it become floats (Homestar's rule). */
export const U64_MAX = 0xffff_ffff_ffff_ffffn;
/** The smallest signed 64-bit integer: JSON integers below it become floats. */
export const I64_MIN = -0x8000_0000_0000_0000n;

/** True for a plain IPLD map (not a CID, bytes, list or float). */
export function isIpldMap(value: unknown): value is IpldMap {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array) &&
    !(value instanceof IpldFloat) &&
    CID.asCID(value) === null
  );
}

/** The numeric value of an IPLD integer or float, or `undefined` for anything else. */
export function asNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof IpldFloat) return value.value;
  return undefined;
}

/** A short name of the value's IPLD kind, for error messages. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (Array.isArray(value)) return 'list';
  if (value instanceof Uint8Array) return 'bytes';
  if (value instanceof IpldFloat) return 'float';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'float';
  if (typeof value === 'bigint') return 'integer';
  if (typeof value === 'object') return CID.asCID(value) ? 'link' : 'map';
  return typeof value;
}
