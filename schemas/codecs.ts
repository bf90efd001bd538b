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
import { DecodeError, EncodeError } from './errors.ts';
import { I64_MIN, IpldFloat, U64_MAX, type IpldValue } from './ipld.ts';

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

function cborObjectEncoder(obj: object): Token[] | null {
  if (obj instanceof IpldFloat) return [new Token(Type.float, obj.value)];
  const cid = CID.asCID(obj);
  if (cid === null) return null;
  const bytes = new Uint8Array(cid.bytes.byteLength + 1);
  bytes.set(cid.bytes, 1); // the 0x00 multibase prefix of tag 42
  return [new Token(Type.tag, CID_TAG), new Token(Type.bytes, bytes)];
}

function jsonObjectEncoder(obj: object): Token[] | null {
  if (obj instanceof IpldFloat) return [new Token(Type.float, obj.value)];
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

const cborEncodeOptions = {
  float64: true,
  typeEncoders: {
    Object: cborObjectEncoder,
    number: numberEncoder,
    bigint: bigintEncoder,
    undefined: undefinedEncoder,
    Map: mapEncoder,
  },
} satisfies cborg.EncodeOptions;

const jsonEncodeOptions = {
  typeEncoders: {
    Object: jsonObjectEncoder,
    Uint8Array: jsonObjectEncoder,
    Buffer: jsonObjectEncoder,
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

  constructor(inner: DecodeTokenizer, json: boolean, maxDepth: number) {
    this.#inner = inner;
    this.#json = json;
    this.#maxDepth = maxDepth;
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
    } else {
      token = this.#raw();
      if (this.#json && Type.equals(token.type, Type.map)) token = this.#jsonForm(token);
      token = this.#number(token);
    }
    this.#track(token);
    return token;
  }

  #number(token: Token): Token {
    const t = token.type;
    if (Type.equals(t, Type.float)) {
      const v = token.value as number;
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

function cidFromTag(decode: () => unknown): CID {
  const content = decode();
  if (typeof content === 'string') return CID.parse(content);
  if (!(content instanceof Uint8Array) || content[0] !== 0) {
    throw new Error('tag 42 must hold bytes starting with 0x00');
  }
  return CID.decode(content.subarray(1));
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
decodeOptionsBase.tags[CID_TAG] = cidFromTag;
decodeOptionsBase.tags[FLOAT_TAG] = (decode: () => unknown) => new IpldFloat(decode() as number);

const jsonDecodeOptionsBase = { ...decodeOptionsBase, allowIndefinite: true };

function decodeWith(
  bytes: Uint8Array,
  json: boolean,
  codec: string,
  limits: DecodeLimits | undefined,
): IpldValue {
  if (!(bytes instanceof Uint8Array)) {
    throw new DecodeError(codec, 0, 'input must be bytes');
  }
  const base = json ? jsonDecodeOptionsBase : decodeOptionsBase;
  const inner = json
    ? new cborgJson.Tokenizer(bytes, base)
    : new cborg.Tokenizer(bytes, base);
  const tokenizer = new IpldTokenizer(inner, json, limits?.maxDepth ?? DEFAULT_MAX_DEPTH);
  try {
    const decode = json ? cborgJson.decode : cborg.decode;
    return decode(bytes, { ...base, tokenizer }) as IpldValue;
  } catch (err) {
    const message = (err as Error).message.replace(/^CBOR decode error: /, '');
    throw new DecodeError(codec, tokenizer.pos(), message, { cause: err });
  }
}

/** DAG-CBOR (multicodec 0x71). */
export const dagCbor: BlockCodec<0x71> = {
  name: 'dag-cbor',
  code: 0x71,
  encode: (value) => wrapEncode(() => cborg.encode(value, cborEncodeOptions)),
  decode: (bytes: Uint8Array, limits?: DecodeLimits) => decodeWith(bytes, false, 'dag-cbor', limits),
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
  encode: (value) => wrapEncode(() => cborgJson.encode(value, jsonEncodeOptions)),
  decode: (input: Uint8Array | string, limits?: DecodeLimits) =>
    decodeWith(
      typeof input === 'string' ? new TextEncoder().encode(input) : input,
      true,
      'dag-json',
      limits,
    ),
  stringify: (value) => new TextDecoder().decode(dagJson.encode(value)),
};

/**
 * Decodes bytes that are either DAG-JSON or DAG-CBOR, telling them apart by the first
 * non-blank byte (`{`, `[` or `"` open JSON text; a CBOR map or list never starts so).
 */
export function decodeAuto(bytes: Uint8Array, limits?: DecodeLimits): {
  value: IpldValue;
  codec: 'dag-json' | 'dag-cbor';
} {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  const first = bytes[i];
  if (first === 0x7b || first === 0x5b) {
    return { value: dagJson.decode(bytes, limits), codec: 'dag-json' };
  }
  return { value: dagCbor.decode(bytes, limits), codec: 'dag-cbor' };
}
