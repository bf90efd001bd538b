// fast-check arbitraries for IPLD values, in the canonical form the decoders produce, so that
// `decode(encode(v))` must give back exactly `v`:
// - integers: `number` when safe, `bigint` outside the safe range (up to the u64/i64 edges);
// - floats: `IpldFloat` when the value is a safe integer (or -0), plain `number` otherwise;
// - bytes: `Uint8Array`; links: `CID` (v0 and v1, several codecs and hashes);
// - maps: plain objects with arbitrary unicode keys.
import fc from 'fast-check';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { I64_MIN, IpldFloat, U64_MAX, type IpldValue } from '../../schemas/index.ts';

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Safe integers at the edges of CBOR's head sizes and of the safe range. */
export const SAFE_INTEGER_EDGES: readonly number[] = [
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
  0,
  23,
  24,
  255,
  256,
  65535,
  65536,
  2 ** 32 - 1,
  2 ** 32,
  -1,
  -24,
  -25,
  -256,
  -257,
  -(2 ** 32),
];

/** Integers: safe ones as numbers, the rest as bigints, with the range edges over-represented. */
export const ipldInteger: fc.Arbitrary<number | bigint> = fc
  .oneof(
    fc.maxSafeInteger(),
    fc.integer({ min: -300, max: 300 }),
    fc.bigInt({ min: SAFE + 1n, max: U64_MAX }),
    fc.bigInt({ min: I64_MIN, max: -SAFE - 1n }),
    fc.constantFrom<number | bigint>(
      U64_MAX,
      U64_MAX - 1n,
      I64_MIN,
      I64_MIN + 1n,
      2n ** 63n - 1n,
      2n ** 63n,
      SAFE + 1n,
      -SAFE - 1n,
      ...SAFE_INTEGER_EDGES,
    ),
  )
  .map((n) => (typeof n === 'bigint' && n >= -SAFE && n <= SAFE ? Number(n) : n));

/** Turns a finite double into its canonical decoded form. */
export function canonicalFloat(d: number): number | IpldFloat {
  return Number.isSafeInteger(d) || Object.is(d, -0) ? new IpldFloat(d) : d;
}

/** Finite floats, integral ones included (those become IpldFloat). */
export const ipldFloat: fc.Arbitrary<number | IpldFloat> = fc
  .oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer({ min: -1000, max: 1000 }),
    fc.constantFrom(0, -0, 1, -1, 2 ** 53, 2 ** 64, -(2 ** 63), 1e300, 5e-324, 0.1, 1.5),
  )
  .map(canonicalFloat);

/** CIDs: v1 with dag-cbor/raw/dag-pb/dag-json over sha2-256/sha3-256, and v0. */
export const ipldLink: fc.Arbitrary<CID> = fc
  .tuple(
    fc.constantFrom(0x71, 0x55, 0x70, 0x0129),
    fc.constantFrom(0x12, 0x16),
    fc.uint8Array({ minLength: 32, maxLength: 32 }),
    fc.boolean(),
  )
  .map(([codec, hash, digest, v0]) =>
    v0
      ? CID.createV0(Digest.create(0x12, digest))
      : CID.createV1(codec, Digest.create(hash, digest)),
  );

/** Map keys: any unicode text, often short ASCII, with a few awkward ones. */
export const ipldKey: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.string({ maxLength: 4 }),
  fc.constantFrom('', 'a', 'aa', 'b', 'é', '€', '𝄞', 'ab', 'ba', '__proto__', 'constructor'),
);

/** Options of {@link ipldValue}. */
export interface IpldValueOptions {
  /** DAG-JSON cannot hold a map whose only key is "/" (it reads as a link or bytes). */
  json?: boolean;
  /** Leave out IpldFloat (for comparisons with codecs that do not know it). */
  plainFloats?: boolean;
  maxDepth?: number;
}

/** Arbitrary IPLD values in canonical decoded form. */
export function ipldValue(options: IpldValueOptions = {}): fc.Arbitrary<IpldValue> {
  const floats = options.plainFloats === true ? ipldFloat.map((f) => +f) : ipldFloat;
  const key = options.json === true ? ipldKey.filter((k) => k !== '/') : ipldKey;
  const { value } = fc.letrec<{ value: IpldValue }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', maxDepth: options.maxDepth ?? 4 },
      fc.constant(null),
      fc.boolean(),
      ipldInteger,
      floats,
      fc.string({ unit: 'grapheme', maxLength: 20 }),
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.uint8Array({ maxLength: 40 }),
      ipldLink,
      fc.array(tie('value'), { maxLength: 5 }),
      fc.dictionary(key, tie('value'), { maxKeys: 5, noNullPrototype: true }),
    ),
  }));
  return value;
}

/** Hex of bytes, for readable assertions. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** Bytes from hex with optional spaces. */
export function fromHex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

/**
 * A plain description of an IPLD value that tells every kind apart (integer vs float vs bigint,
 * -0, bytes, links), with map entries sorted, for exact equality checks: `toStrictEqual` on the
 * values themselves trips over maps with a "constructor" key.
 */
export function describeIpld(value: unknown): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    return {
      number: Object.is(value, -0) ? '-0' : String(value),
      safe: Number.isSafeInteger(value),
    };
  }
  if (typeof value === 'bigint') return { bigint: value.toString() };
  if (value instanceof IpldFloat)
    return { float: Object.is(value.value, -0) ? '-0' : String(value.value) };
  if (value instanceof Uint8Array) return { bytes: hex(value) };
  const cid = CID.asCID(value);
  if (cid !== null) return { link: cid.toString() };
  if (Array.isArray(value)) return { list: value.map(describeIpld) };
  if (typeof value === 'object') {
    const entries = Object.entries(value).map(([k, v]) => [k, describeIpld(v)] as const);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return { map: entries };
  }
  return { unexpected: typeof value };
}
