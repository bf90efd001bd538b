/**
 * DAG-CBOR and DAG-JSON codecs for the {@link IpldValue} model, byte-compatible with the Rust
 * IPLD stack Homestar uses.
 *
 * They differ from `@ipld/dag-cbor` / `@ipld/dag-json` in three deliberate ways:
 * - floats with integral values survive a round trip as {@link IpldFloat};
 * - a JSON integer outside the u64/i64 range becomes a float, as `serde_json` reads it
 *   (Homestar's fixtures rely on this: `"fuel": 18446744073709552000` is the float 2^64);
 * - decoding untrusted bytes never overflows the stack and every error names the byte offset.
 *
 * @module
 */
import * as cborg from 'cborg';
import * as cborgJson from 'cborg/json';
import { CID } from 'multiformats/cid';
import { base64 } from 'multiformats/bases/base64';
import { compareAsciiKeys, NON_ASCII, sortSmall } from './key-order.ts';
import { dagJsonText, Unusual } from './dag-json-text.ts';
import { readDagJson } from './dag-json-read.ts';
import { readDagCbor } from './dag-cbor-read.ts';
import { utf8Text } from './utf8-text.ts';
import { isSha3CborCid, sha3CborCidFrom } from './compact-cid.ts';
import { DecodeError, EncodeError } from './errors.ts';
import { I64_MIN, IpldFloat, U64_MAX, type IpldValue } from './ipld.ts';
import { attached } from './attached.ts';

const { Token, Type } = cborg;
type Token = cborg.Token;

/** A block codec in the multiformats vocabulary. */
export interface BlockCodec<Code extends number = number> {
  /** Multicodec name. */
  readonly name: string;
  /** Multicodec code. */
  readonly code: Code;
  /** Encodes a value; throws {@link EncodeError} for values outside the IPLD data model. */
  encode(value: unknown): Uint8Array;
  /** Decodes bytes; throws {@link DecodeError} naming the byte offset. */
  decode(bytes: Uint8Array, limits?: DecodeLimits): IpldValue;
}

/** Options for decoding untrusted input. */
export interface DecodeLimits {
  /**
   * Deepest nesting of lists and maps accepted.
   * @default 256
   */
  maxDepth?: number;
}

/** @default 256 */
export const DEFAULT_MAX_DEPTH = 256;

const CID_TAG = 42;
/** A private tag number our tokenizer uses to mark integral floats (never written out). */
const FLOAT_TAG = 0x1f10a7;

// ---------------------------------------------------------------------------------------------
// Encoding

function numberEncoder(n: number): Token[] | null {
  if (!Number.isFinite(n)) throw new EncodeError(`${n} is not in the IPLD data model`);
  // An integral number beyond the safe range can only have come from a float.
  if (Number.isInteger(n) && !Number.isSafeInteger(n)) return [new Token(Type.float, n)];
  return null;
}

function bigintEncoder(n: bigint): Token[] | null {
  if (n > U64_MAX || n < I64_MIN) {
    throw new EncodeError(`integer ${n} is outside the 64-bit range of the IPLD data model`);
  }
  return null;
}

function undefinedEncoder(): never {
  throw new EncodeError('undefined is not in the IPLD data model');
}

function mapEncoder(): never {
  throw new EncodeError('Map is not in the IPLD data model: use a plain object');
}

// DAG-CBOR is encoded directly into a reused buffer rather than through cborg's token objects:
// it is the hot path of every CID, and this is about twice as fast (bench/cid.bench.ts). The
// output is compared byte for byte with @ipld/dag-cbor in the property tests.

const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
/** Beyond this depth every container is checked against its ancestors (circular values). */
const CYCLE_CHECK_DEPTH = 64;
/** A writer whose buffer grew beyond this is shrunk back after use. */
const KEEP_BUFFER_BYTES = 1 << 20;
const utf8Encoder = new TextEncoder();

function headSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x1_0000_0000 ? 5 : 9;
}

function compareUtf8(a: string, b: string): number {
  const x = utf8Encoder.encode(a);
  const y = utf8Encoder.encode(b);
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

/**
 * Maps whose DAG-CBOR bytes were computed when they were hashed (a workflow's body, a receipt):
 * an encoding that holds one as a field copies its bytes instead of walking it again (see
 * {@link rememberEncoding}). Kept on the maps, not in a `WeakMap` (see `attached.ts`).
 */
const knownEncodings = attached<Uint8Array>('dag-cbor bytes');

/**
 * Records that the map `value` encodes to `bytes` (computed from it, e.g. by composing its
 * parts), so that a value holding it as a field — an event around a workflow or a receipt —
 * copies the bytes. Only the fields of the value encoded (depth 1) are looked up. `value` must
 * not change after. A frozen or sealed map is left as it is (its encoding is walked).
 */
export function rememberEncoding(value: object, bytes: Uint8Array): void {
  knownEncodings.set(value, bytes);
}

/** The bytes {@link rememberEncoding} recorded for `value`, if any. */
export function knownEncoding(value: object): Uint8Array | undefined {
  return knownEncodings.get(value);
}

class CborWriter {
  buf = new Uint8Array(4096);
  view = new DataView(this.buf.buffer);
  pos = 0;
  busy = false;
  readonly #ancestors: object[] = [];

  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.#grow(n);
  }

  #grow(n: number): void {
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf); // all of it: string() writes ahead of pos before it writes the head
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  reset(): void {
    this.pos = 0;
    this.#ancestors.length = 0;
    if (this.buf.length > KEEP_BUFFER_BYTES) {
      this.buf = new Uint8Array(4096);
      this.view = new DataView(this.buf.buffer);
    }
  }

  /** A head with a non-negative safe-integer argument, minimal length. */
  head(major: number, n: number): void {
    this.ensure(9);
    const b = this.buf;
    const m = major << 5;
    let p = this.pos;
    if (n < 24) b[p++] = m | n;
    else if (n < 0x100) {
      b[p++] = m | 24;
      b[p++] = n;
    } else if (n < 0x10000) {
      b[p++] = m | 25;
      b[p++] = n >> 8;
      b[p++] = n & 0xff;
    } else if (n < 0x1_0000_0000) {
      b[p++] = m | 26;
      this.view.setUint32(p, n);
      p += 4;
    } else {
      b[p++] = m | 27;
      this.view.setUint32(p, Math.floor(n / 0x1_0000_0000));
      this.view.setUint32(p + 4, n >>> 0);
      p += 8;
    }
    this.pos = p;
  }

  bigint(n: bigint): void {
    if (n > U64_MAX || n < I64_MIN) {
      throw new EncodeError(`integer ${n} is outside the 64-bit range of the IPLD data model`);
    }
    const major = n < 0n ? 1 : 0;
    const arg = n < 0n ? -1n - n : n;
    if (arg <= MAX_SAFE_BIG) return this.head(major, Number(arg));
    this.ensure(9);
    this.buf[this.pos] = (major << 5) | 27;
    this.view.setBigUint64(this.pos + 1, arg);
    this.pos += 9;
  }

  float(v: number): void {
    if (!Number.isFinite(v)) throw new EncodeError(`${v} is not in the IPLD data model`);
    this.ensure(9);
    this.buf[this.pos] = 0xfb;
    this.view.setFloat64(this.pos + 1, v);
    this.pos += 9;
  }

  number(v: number): void {
    if (Number.isSafeInteger(v)) {
      if (v >= 0) this.head(0, v);
      else this.head(1, -1 - v);
    } else {
      // Fractions, and integral values beyond the safe range (which can only come from floats).
      this.float(v);
    }
  }

  string(s: string): void {
    const len = s.length;
    if (len < 256) {
      // Short ASCII strings (keys, funcs, `ipfs://` URIs, DIDs): a plain loop beats
      // TextEncoder's call (about 0.8 µs of it, against 0.1 µs for a 66-character URI).
      this.ensure(len + 2);
      const b = this.buf;
      let p = this.pos + (len < 24 ? 1 : 2);
      let i = 0;
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === len) {
        if (len < 24) b[this.pos] = 0x60 | len;
        else {
          b[this.pos] = 0x78;
          b[this.pos + 1] = len;
        }
        this.pos = p;
        return;
      }
    }
    if (!s.isWellFormed()) {
      throw new EncodeError(
        'a string with a lone surrogate is not valid Unicode (not in the IPLD data model)',
      );
    }
    const max = len * 3;
    const reserved = headSize(max);
    this.ensure(reserved + max);
    const { written } = utf8Encoder.encodeInto(s, this.buf.subarray(this.pos + reserved));
    const needed = headSize(written);
    if (needed !== reserved) {
      this.buf.copyWithin(this.pos + needed, this.pos + reserved, this.pos + reserved + written);
    }
    this.head(3, written);
    this.pos += written;
  }

  bytes(b: Uint8Array): void {
    this.head(2, b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  cid(cid: CID): void {
    const bytes = cid.bytes;
    this.ensure(2);
    this.buf[this.pos++] = 0xd8; // tag(42)
    this.buf[this.pos++] = CID_TAG;
    this.head(2, bytes.length + 1);
    this.ensure(bytes.length + 1);
    this.buf[this.pos++] = 0; // the multibase identity prefix
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  #enter(container: object, depth: number): void {
    const ancestors = this.#ancestors;
    if (depth >= CYCLE_CHECK_DEPTH) {
      for (let i = 0; i < depth; i++) {
        if (ancestors[i] === container)
          throw new EncodeError('the value contains a circular reference');
      }
    }
    ancestors[depth] = container;
  }

  list(list: readonly unknown[], depth: number): void {
    this.#enter(list, depth);
    const n = list.length;
    this.head(4, n);
    for (let i = 0; i < n; i++) this.value(list[i], depth + 1);
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  map(map: Record<string, unknown>, depth: number): void {
    if (depth === 1) {
      const known = knownEncodings.get(map);
      if (known !== undefined) return this.raw(known);
    }
    this.#enter(map, depth);
    const keys = Object.keys(map);
    const n = keys.length;
    let ascii = true;
    let sorted = true;
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      if (ascii && NON_ASCII.test(k)) ascii = false;
      if (i > 0 && sorted && compareAsciiKeys(keys[i - 1]!, k) > 0) sorted = false;
    }
    if (!ascii) keys.sort(compareUtf8);
    else if (!sorted) sortSmall(keys, compareAsciiKeys);
    this.head(5, n);
    for (let i = 0; i < n; i++) {
      const k = keys[i]!;
      this.string(k);
      const v = map[k];
      if (v === undefined)
        throw new EncodeError(
          `undefined (under key ${JSON.stringify(k.slice(0, 64))}) is not in the IPLD data model`,
        );
      this.value(v, depth + 1);
    }
  }

  /** See {@link encodeOrderedMap}: the map has `size` entries, fixed ones included. */
  orderedMap(map: Readonly<Record<string, unknown>>, order: KeyOrder, size: number): void {
    this.#enter(map, 0);
    this.head(5, size);
    const { keys, encoded, isFixed } = order;
    for (let i = 0; i < keys.length; i++) {
      if (isFixed[i]) {
        this.raw(encoded[i]!);
        continue;
      }
      const v = map[keys[i]!];
      if (v === undefined) continue;
      this.raw(encoded[i]!);
      this.value(v, 1);
    }
  }

  value(v: unknown, depth: number): void {
    switch (typeof v) {
      case 'string':
        return this.string(v);
      case 'number':
        return this.number(v);
      case 'boolean':
        this.ensure(1);
        this.buf[this.pos++] = v ? 0xf5 : 0xf4;
        return;
      case 'bigint':
        return this.bigint(v);
      case 'object': {
        if (v === null) {
          this.ensure(1);
          this.buf[this.pos++] = 0xf6;
          return;
        }
        if (Array.isArray(v)) return this.list(v, depth);
        if (v instanceof Uint8Array) return this.bytes(v);
        if (v instanceof IpldFloat) return this.float(v.value);
        if (v instanceof CID) return this.cid(v as CID);
        const proto: unknown = Object.getPrototypeOf(v);
        if (proto === Object.prototype || proto === null) {
          return this.map(v as Record<string, unknown>, depth);
        }
        const cid = CID.asCID(v);
        if (cid !== null) return this.cid(cid);
        // Other binary views encode as their bytes, as cborg (and so @ipld/dag-cbor) does.
        if (ArrayBuffer.isView(v))
          return this.bytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
        if (v instanceof ArrayBuffer) return this.bytes(new Uint8Array(v));
        if (v instanceof Map)
          throw new EncodeError('Map is not in the IPLD data model: use a plain object');
        const tag = Object.prototype.toString.call(v).slice(8, -1);
        // Instances of plain classes encode as maps of their own enumerable properties.
        if (tag === 'Object') return this.map(v as Record<string, unknown>, depth);
        throw new EncodeError(`${tag} is not in the IPLD data model`);
      }
      case 'undefined':
        throw new EncodeError('undefined is not in the IPLD data model');
      default:
        throw new EncodeError(`${typeof v} is not in the IPLD data model`);
    }
  }
}

const sharedWriter = new CborWriter();

function encodeCbor(value: unknown): Uint8Array {
  return write(value, undefined, 0, false);
}

/**
 * The keys a kind of map may have, in DAG-CBOR's key order, each with its encoding, and entries
 * every such map gets (see {@link encodeOrderedMap}).
 */
export interface KeyOrder {
  /** The keys, `fixed`'s among them, in DAG-CBOR's key order. */
  readonly keys: readonly string[];
  /** Each key's DAG-CBOR text string, followed by its value's encoding for a fixed entry. */
  readonly encoded: readonly Uint8Array[];
  /** Per key: whether it is a fixed entry. */
  readonly isFixed: readonly boolean[];
  readonly fixed: Readonly<Record<string, IpldValue>>;
}

/**
 * The {@link KeyOrder} of a map with `keys` (none of them a property of `Object.prototype`)
 * and the `fixed` entries.
 */
export function keyOrder(keys: readonly string[], fixed: Record<string, IpldValue> = {}): KeyOrder {
  const all = [...new Set([...keys, ...Object.keys(fixed)])].sort(compareUtf8);
  for (const k of all) {
    if (k in Object.prototype) throw new TypeError(`${k} is a property of Object.prototype`);
  }
  return {
    keys: all,
    encoded: all.map((k) => {
      const key = encodeCbor(k);
      if (!Object.hasOwn(fixed, k)) return key;
      const value = encodeCbor(fixed[k]);
      const both = new Uint8Array(key.length + value.length);
      both.set(key);
      both.set(value, key.length);
      return both;
    }),
    isFixed: all.map((k) => Object.hasOwn(fixed, k)),
    fixed: { ...fixed },
  };
}

/**
 * DAG-CBOR of `{...order.fixed, ...map}`, where `map` is a plain map whose keys are all in
 * `order` and none of them fixed: its keys are neither listed nor sorted, its values are
 * encoded as {@link dagCbor} encodes them. Any other map (a key outside `order`, a fixed key, an
 * undefined value) is encoded the general way: the same bytes, the same errors. For the records
 * a node writes most (`schemas/events.ts`).
 */
export function encodeOrderedMap(
  map: Readonly<Record<string, unknown>>,
  order: KeyOrder,
  /** Bytes dropped soon after (a record its log copies): cut from a shared block. */
  shortLived = false,
): Uint8Array {
  const proto: unknown = Object.getPrototypeOf(map);
  if (proto === Object.prototype || proto === null) {
    const { keys, isFixed } = order;
    let present = 0;
    let fixed = 0;
    for (let i = 0; i < keys.length; i++) {
      if (map[keys[i]!] === undefined) {
        if (isFixed[i]) fixed++;
      } else if (isFixed[i]) {
        present = -1; // a fixed entry overridden: the general way
        break;
      } else present++;
    }
    let own = 0;
    for (const _ in map) own++;
    if (own === present) {
      return write(map, order, present + fixed, shortLived);
    }
  }
  return encodeCbor({ ...order.fixed, ...map });
}

/** Size of the blocks {@link carve} cuts outputs from: Node's `Buffer` pool's. */
const BLOCK_BYTES = 8192;
/** Largest output cut from a block. */
const CARVE_MAX = 2048;
let block = new ArrayBuffer(BLOCK_BYTES);
let blockUsed = 0;

/**
 * The first `n` bytes of `src` in an array cut from a block shared with other outputs. A fresh
 * `ArrayBuffer` of more than 64 bytes (smaller ones live on V8's heap) costs ~0.7–1.4 µs on this
 * machine, a view into a block ~0.1–0.2 µs: for bytes that are dropped soon, as a record once
 * its log has copied it. Bytes kept for long would keep their whole block alive.
 */
function carve(src: Uint8Array, n: number): Uint8Array {
  if (n <= 64 || n > CARVE_MAX) return src.slice(0, n);
  if (blockUsed + n > BLOCK_BYTES) {
    block = new ArrayBuffer(BLOCK_BYTES);
    blockUsed = 0;
  }
  const out = new Uint8Array(block, blockUsed, n);
  out.set(src.subarray(0, n));
  blockUsed = (blockUsed + n + 7) & ~7;
  return out;
}

/**
 * Encodes `value` on the shared writer (or a fresh one when it is busy): as any value, or with
 * an `order` as {@link encodeOrderedMap}'s map of `size` entries. The bytes written, in an
 * array of their own or, with `carved`, {@link carve}d. (No callback: this is every CID's path.)
 */
function write(
  value: unknown,
  order: KeyOrder | undefined,
  size: number,
  carved: boolean,
): Uint8Array {
  // A getter that encodes while we encode must not scribble over the shared buffer.
  const writer = sharedWriter.busy ? new CborWriter() : sharedWriter;
  writer.busy = true;
  try {
    if (order === undefined) writer.value(value, 0);
    else writer.orderedMap(value as Readonly<Record<string, unknown>>, order, size);
    return carved ? carve(writer.buf, writer.pos) : writer.buf.slice(0, writer.pos);
  } catch (err) {
    if (err instanceof EncodeError) throw err;
    if (err instanceof RangeError) {
      throw new EncodeError('the value is nested too deeply to encode', { cause: err });
    }
    throw new EncodeError((err as Error).message, { cause: err });
  } finally {
    writer.busy = false;
    writer.reset();
  }
}

/** `-0.0`: cborg prints floats with `String(value)`, which drops the sign of negative zero. */
const NEGATIVE_ZERO_TEXT = { toString: () => '-0.0' };

function jsonObjectEncoder(obj: object): Token[] | null {
  if (obj instanceof IpldFloat) {
    const v = obj.value;
    if (!Number.isFinite(v)) throw new EncodeError(`${v} is not in the IPLD data model`);
    return [new Token(Type.float, Object.is(v, -0) ? NEGATIVE_ZERO_TEXT : v)];
  }
  if (obj instanceof Uint8Array) {
    return [
      new Token(Type.map, Infinity, 1),
      new Token(Type.string, '/', 1),
      new Token(Type.map, Infinity, 1),
      new Token(Type.string, 'bytes', 5),
      new Token(Type.string, base64.encode(obj).slice(1)),
      new Token(Type.break),
      new Token(Type.break),
    ];
  }
  const cid = CID.asCID(obj);
  if (cid === null) return null;
  const text = cid.toString();
  return [
    new Token(Type.map, Infinity, 1),
    new Token(Type.string, '/', 1),
    new Token(Type.string, text, text.length),
    new Token(Type.break),
  ];
}

function jsonStringEncoder(s: string): Token[] | null {
  if (!s.isWellFormed()) {
    throw new EncodeError(
      'a string with a lone surrogate is not valid Unicode (not in the IPLD data model)',
    );
  }
  return null;
}

const jsonEncodeOptions = {
  typeEncoders: {
    Object: jsonObjectEncoder,
    Uint8Array: jsonObjectEncoder,
    Buffer: jsonObjectEncoder,
    string: jsonStringEncoder,
    number: numberEncoder,
    bigint: bigintEncoder,
    undefined: undefinedEncoder,
    Map: mapEncoder,
  },
} satisfies cborg.EncodeOptions;

function wrapEncode(encode: () => Uint8Array): Uint8Array {
  try {
    return encode();
  } catch (err) {
    if (err instanceof EncodeError) throw err;
    throw new EncodeError((err as Error).message, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface DecodeTokenizer {
  done(): boolean;
  next(): Token;
  pos(): number;
}

/**
 * Wraps a cborg tokenizer: marks integral floats, turns out-of-range JSON integers into floats,
 * rewrites DAG-JSON's `{"/": …}` forms, and bounds the nesting depth without recursion.
 */
class IpldTokenizer implements DecodeTokenizer {
  readonly #inner: DecodeTokenizer;
  readonly #json: boolean;
  readonly #maxDepth: number;
  /** Tokens read ahead while looking for a DAG-JSON form, next one last. */
  readonly #ahead: Token[] = [];
  /** A token already rewritten, to be returned after the tag that announces it. */
  #pending: Token | null = null;
  /** Remaining items of each open definite container, or Infinity for indefinite ones. */
  readonly #open: number[] = [];

  readonly #bytes: Uint8Array;

  constructor(inner: DecodeTokenizer, json: boolean, maxDepth: number, bytes: Uint8Array) {
    this.#inner = inner;
    this.#json = json;
    this.#maxDepth = maxDepth;
    this.#bytes = bytes;
  }

  done(): boolean {
    return this.#pending === null && this.#ahead.length === 0 && this.#inner.done();
  }

  pos(): number {
    return this.#inner.pos();
  }

  #raw(): Token {
    return this.#ahead.pop() ?? this.#inner.next();
  }

  next(): Token {
    let token: Token;
    if (this.#pending !== null) {
      token = this.#pending;
      this.#pending = null;
    } else if (this.#json) {
      token = this.#raw();
      if (Type.equals(token.type, Type.map)) token = this.#jsonForm(token);
      else if (Type.equals(token.type, Type.string)) this.#checkJsonString(token.value as string);
      token = this.#number(token);
    } else {
      const start = this.#inner.pos();
      token = this.#inner.next();
      this.#checkCbor(token, start);
      token = this.#number(token);
    }
    this.#track(token);
    return token;
  }

  /** Where the input went wrong, when that is not where the tokenizer stopped. */
  errorOffset: number | null = null;
  #utf8Checked = false;

  #checkJsonString(value: string): void {
    if (!value.isWellFormed()) {
      throw new Error('a string with a lone surrogate escape is not valid Unicode');
    }
    // cborg's JSON reader also turns invalid UTF-8 into U+FFFD: look at the bytes when one shows.
    if (!this.#utf8Checked && value.includes('\uFFFD')) {
      const bad = firstInvalidUtf8(this.#bytes, 0, this.#bytes.length);
      if (bad >= 0) {
        this.errorOffset = bad;
        throw new Error('the text is not valid UTF-8');
      }
      this.#utf8Checked = true; // the whole text is valid: real U+FFFDs need no more scans
    }
  }

  /** What cborg's strict mode lets through but DAG-CBOR forbids. */
  #checkCbor(token: Token, start: number): void {
    const t = token.type;
    if (Type.equals(t, Type.string)) {
      // cborg decodes invalid UTF-8 to U+FFFD; only strings that contain one need a second look.
      if ((token.value as string).includes('\uFFFD')) {
        const ai = this.#bytes[start]! & 0x1f;
        const from = start + (ai < 24 ? 1 : 1 + (1 << (ai - 24)));
        const bad = firstInvalidUtf8(this.#bytes, from, start + token.encodedLength!);
        if (bad >= 0) {
          this.errorOffset = bad;
          throw new Error('a string is not valid UTF-8');
        }
      }
    } else if (Type.equals(t, Type.tag)) {
      if (token.value !== CID_TAG)
        throw new Error(`tag ${token.value} is not allowed in DAG-CBOR (only 42, links)`);
    } else if (Type.equals(t, Type.float)) {
      if (token.encodedLength !== 9)
        throw new Error('floats must be encoded in 64 bits in DAG-CBOR');
    } else if (Type.equals(t, Type.negint)) {
      if (typeof token.value === 'bigint' && token.value < I64_MIN) {
        throw new Error(
          `integer ${token.value} is below the 64-bit signed range this node supports`,
        );
      }
    }
  }

  #number(token: Token): Token {
    const t = token.type;
    if (Type.equals(t, Type.float)) {
      const v = token.value as number;
      // JSON text such as 1e400 parses to Infinity, which is not in the data model.
      if (!Number.isFinite(v)) throw new Error('a number beyond the range of a 64-bit float');
      if (Number.isSafeInteger(v) || Object.is(v, -0)) {
        this.#pending = token;
        return new Token(Type.tag, FLOAT_TAG);
      }
      return token;
    }
    if (this.#json && (Type.equals(t, Type.uint) || Type.equals(t, Type.negint))) {
      const v = token.value as number | bigint;
      if (typeof v === 'bigint' && (v > U64_MAX || v < I64_MIN)) {
        return new Token(Type.float, Number(v));
      }
    }
    return token;
  }

  /** `{"/": "cid"}` → tag 42 + string; `{"/": {"bytes": "b64"}}` → bytes; otherwise unchanged. */
  #jsonForm(map: Token): Token {
    const key = this.#raw();
    if (!(Type.equals(key.type, Type.string) && key.value === '/')) {
      this.#ahead.push(key);
      return map;
    }
    const value = this.#raw();
    if (Type.equals(value.type, Type.string)) {
      if (!Type.equals(this.#raw().type, Type.break)) {
        throw new Error('a {"/": "<cid>"} link must have no other keys');
      }
      this.#pending = value;
      return new Token(Type.tag, CID_TAG);
    }
    if (Type.equals(value.type, Type.map)) {
      const inner = this.#raw();
      if (Type.equals(inner.type, Type.string) && inner.value === 'bytes') {
        const b64 = this.#raw();
        if (!Type.equals(b64.type, Type.string)) {
          throw new Error('{"/": {"bytes": …}} needs a base64 string');
        }
        for (let i = 0; i < 2; i++) {
          if (!Type.equals(this.#raw().type, Type.break)) {
            throw new Error('a {"/": {"bytes": …}} form must have no other keys');
          }
        }
        const text = (b64.value as string).replace(/=+$/, '');
        return new Token(Type.bytes, base64.baseDecode(text), text.length);
      }
      this.#ahead.push(inner);
    }
    // Not a special form: hand the tokens back in reading order (the last pushed pops first).
    this.#ahead.push(value, key);
    return map;
  }

  #track(token: Token): void {
    const t = token.type;
    const open = this.#open;
    if (Type.equals(t, Type.break)) {
      open.pop();
      this.#closeFinished();
      return;
    }
    if (Type.equals(t, Type.tag)) return; // its content is the item
    if (Type.equals(t, Type.array) || Type.equals(t, Type.map)) {
      this.#consumeOne();
      const n = token.value as number;
      const items = Type.equals(t, Type.map) ? n * 2 : n;
      if (items === 0) {
        this.#closeFinished();
        return;
      }
      if (open.length >= this.#maxDepth) {
        throw new Error(`nesting deeper than ${this.#maxDepth} levels`);
      }
      open.push(items);
      return;
    }
    this.#consumeOne();
    this.#closeFinished();
  }

  #consumeOne(): void {
    const top = this.#open.length - 1;
    if (top >= 0 && this.#open[top] !== Infinity) this.#open[top]! -= 1;
  }

  #closeFinished(): void {
    const open = this.#open;
    while (open.length > 0 && open[open.length - 1] === 0) open.pop();
  }
}

/**
 * Offset of the first byte in `bytes[from, to)` that breaks UTF-8 (overlong forms, surrogates and
 * code points above U+10FFFF included), or -1 when the range is valid.
 */
function firstInvalidUtf8(bytes: Uint8Array, from: number, to: number): number {
  let i = from;
  while (i < to) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) [n, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [n, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    if (i + n >= to) return i; // cut short
    let cp = b & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const c = bytes[i + k]!;
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

function invalidCid(err: unknown): Error {
  return new Error(`invalid CID: ${(err as Error).message}`, { cause: err });
}

/** Tag 42 in DAG-CBOR: bytes, 0x00 then a binary CID. */
function cidFromCborTag(decode: () => unknown): CID {
  const content = decode();
  if (!(content instanceof Uint8Array) || content[0] !== 0) {
    throw new Error('tag 42 must hold bytes starting with 0x00');
  }
  const bytes = content.subarray(1);
  // The usual CID (dag-cbor, sha3-256) in a slab and keeping its text; any other by multiformats.
  if (isSha3CborCid(bytes)) return sha3CborCidFrom(bytes);
  try {
    return CID.decode(bytes);
  } catch (err) {
    throw invalidCid(err);
  }
}

/** The tag our tokenizer puts before the string of a DAG-JSON `{"/": "<cid>"}`. */
function cidFromJsonTag(decode: () => unknown): CID {
  const content = decode() as string;
  try {
    return CID.parse(content);
  } catch (err) {
    throw invalidCid(err);
  }
}

const decodeOptionsBase = {
  allowIndefinite: false,
  allowUndefined: false,
  coerceUndefinedToNull: false,
  allowNaN: false,
  allowInfinity: false,
  allowBigInt: true,
  strict: true,
  useMaps: false,
  rejectDuplicateMapKeys: true,
  tags: [] as cborg.TagDecoder[],
} satisfies cborg.DecodeOptions;
const floatFromTag = (decode: () => unknown): IpldFloat => new IpldFloat(decode() as number);
decodeOptionsBase.tags[CID_TAG] = cidFromCborTag;
decodeOptionsBase.tags[FLOAT_TAG] = floatFromTag;

/**
 * cborg's JSON tokenizer reads strings one character at a time (about 1 s for 10 MB). Strings
 * without escapes, the usual case, are cut out and decoded in one call here; anything else (escapes,
 * control characters, invalid UTF-8) goes to cborg's own reader, whose errors and U+FFFD
 * replacements the IpldTokenizer then reports with an offset.
 */
class JsonTokenizer extends cborgJson.Tokenizer {
  override parseString(): Token {
    const data = this.data;
    const start = this._pos + 1; // after the opening quote
    let ascii = true;
    let i = start;
    for (; i < data.length; i++) {
      const c = data[i]!;
      if (c === 0x22 || c === 0x5c || c < 0x20) break;
      if (c >= 0x80) ascii = false;
    }
    if (i >= data.length)
      throw new Error(`unexpected end of input inside a string at position ${i}`);
    if (data[i] !== 0x22) return super.parseString();
    const value = utf8Text(data, start, i, ascii);
    if (value === undefined) return super.parseString();
    this._pos = i + 1;
    return new Token(Type.string, value, i + 1 - start + 1);
  }
}

const jsonDecodeOptionsBase = {
  ...decodeOptionsBase,
  allowIndefinite: true,
  tags: [] as cborg.TagDecoder[],
};
jsonDecodeOptionsBase.tags[CID_TAG] = cidFromJsonTag;
jsonDecodeOptionsBase.tags[FLOAT_TAG] = floatFromTag;

function decodeWith(
  bytes: Uint8Array,
  json: boolean,
  codec: string,
  limits: DecodeLimits | undefined,
): IpldValue {
  if (!(bytes instanceof Uint8Array)) {
    throw new DecodeError(codec, 0, 'input must be bytes');
  }
  const maxDepth = limits?.maxDepth ?? DEFAULT_MAX_DEPTH;
  // The usual values straight from their bytes (dag-json-read.ts, dag-cbor-read.ts); the rest,
  // errors included, through cborg.
  const value = json ? readDagJson(bytes, maxDepth) : readDagCbor(bytes, maxDepth);
  if (value !== undefined) return value;
  return decodeWithTokens(bytes, json, codec, maxDepth);
}

/**
 * DAG-CBOR or DAG-JSON read through cborg's tokens alone: the oracle the fast readers' tests
 * compare them with.
 * @internal
 */
export function decodeTokens(
  bytes: Uint8Array,
  codec: 'dag-cbor' | 'dag-json',
  limits?: DecodeLimits,
): IpldValue {
  return decodeWithTokens(
    bytes,
    codec === 'dag-json',
    codec,
    limits?.maxDepth ?? DEFAULT_MAX_DEPTH,
  );
}

function decodeWithTokens(
  bytes: Uint8Array,
  json: boolean,
  codec: string,
  maxDepth: number,
): IpldValue {
  const base = json ? jsonDecodeOptionsBase : decodeOptionsBase;
  const inner = json ? new JsonTokenizer(bytes, base) : new cborg.Tokenizer(bytes, base);
  const tokenizer = new IpldTokenizer(inner, json, maxDepth, bytes);
  try {
    const decode = json ? cborgJson.decode : cborg.decode;
    return decode(bytes, { ...base, tokenizer }) as IpldValue;
  } catch (err) {
    let message = (err as Error).message.replace(/^CBOR decode error: /, '');
    if (message.startsWith('too many terminals'))
      message = 'unexpected data after the end of the value';
    throw new DecodeError(codec, tokenizer.errorOffset ?? tokenizer.pos(), message, { cause: err });
  }
}

/** DAG-CBOR (multicodec 0x71). */
export const dagCbor: BlockCodec<0x71> = {
  name: 'dag-cbor',
  code: 0x71,
  encode: encodeCbor,
  decode: (bytes: Uint8Array, limits?: DecodeLimits) =>
    decodeWith(bytes, false, 'dag-cbor', limits),
};

/** DAG-JSON (multicodec 0x0129). */
export const dagJson: BlockCodec<0x0129> & {
  /** Decodes DAG-JSON given as text or UTF-8 bytes. */
  decode(input: Uint8Array | string, limits?: DecodeLimits): IpldValue;
  /** Encodes to a string. */
  stringify(value: unknown): string;
} = {
  name: 'dag-json',
  code: 0x0129,
  encode: (value) => {
    const text = fastJsonText(value);
    return text === undefined ? encodeJsonTokens(value) : utf8Encoder.encode(text);
  },
  decode: (input: Uint8Array | string, limits?: DecodeLimits) =>
    decodeWith(
      typeof input === 'string' ? new TextEncoder().encode(input) : input,
      true,
      'dag-json',
      limits,
    ),
  stringify: (value) => fastJsonText(value) ?? new TextDecoder().decode(encodeJsonTokens(value)),
};

/** The fast path's text, or undefined when the value needs the general way. */
function fastJsonText(value: unknown): string | undefined {
  try {
    return dagJsonText(value);
  } catch (err) {
    // Outside the fast path, or too deep for its recursion: the general way decides.
    if (err instanceof Unusual || err instanceof RangeError) return undefined;
    throw err;
  }
}

/**
 * DAG-JSON through cborg's tokens: every value the fast path (dag-json-text.ts) leaves, and
 * the oracle its tests compare it with.
 * @internal
 */
export function encodeJsonTokens(value: unknown): Uint8Array {
  return wrapEncode(() => cborgJson.encode(value, jsonEncodeOptions));
}

/**
 * Decodes bytes that are either DAG-JSON or DAG-CBOR, telling them apart by the first
 * non-blank byte (`{` or `[` opens JSON text; a CBOR map or list never starts so).
 */
export function decodeAuto(
  bytes: Uint8Array,
  limits?: DecodeLimits,
): {
  value: IpldValue;
  codec: 'dag-json' | 'dag-cbor';
} {
  let i = 0;
  while (
    i < bytes.length &&
    (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)
  )
    i++;
  const first = bytes[i];
  if (first === 0x7b || first === 0x5b) {
    return { value: dagJson.decode(bytes, limits), codec: 'dag-json' };
  }
  try {
    return { value: dagCbor.decode(bytes, limits), codec: 'dag-cbor' };
  } catch (err) {
    // Text that is not JSON (a typo, a YAML file, an error page) is not a CBOR problem.
    if (looksLikeText(bytes.subarray(i, i + 64))) {
      const head = new TextDecoder().decode(bytes.subarray(i, i + 24));
      throw new DecodeError(
        'input',
        i,
        `not JSON or CBOR (text beginning ${JSON.stringify(head)}; a workflow is DAG-JSON starting with { or DAG-CBOR)`,
        { cause: err },
      );
    }
    throw err;
  }
}

/** Printable ASCII (and tabs, newlines) throughout: text, not a CBOR item with binary parts. */
function looksLikeText(head: Uint8Array): boolean {
  if (head.length === 0) return false;
  for (const b of head)
    if (!((b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d)) return false;
  return true;
}
