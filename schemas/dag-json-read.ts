/**
 * DAG-JSON read straight from its bytes, for the text the node reads by the thousand
 * (workflows submitted to the API or a topic, documents from clients): maps, lists, strings
 * without escapes, integers in the safe range, floats, booleans, null, and the `{"/": "<cid>"}`
 * and `{"/": {"bytes": "<base64>"}}` forms. Several times faster than cborg's tokens
 * (bench/cid.bench.ts).
 *
 * Anything else — an escape in a string, an integer beyond the safe range, `-0`, a map whose
 * `/` key is not one of the two forms, a duplicate or `__proto__` key, nesting near the depth
 * limit, and every kind of malformed text — makes it give up (`undefined`), and the caller
 * reads the text the general way (codecs.ts), which decides and names the offset of what is
 * wrong. What it does read is the general way's value: the property tests compare both. Text
 * it gives up on late is read twice: at worst the general way's time again.
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import { base64 } from 'multiformats/bases/base64';
import { sha3CborCidFromText } from './compact-cid.ts';
import { IpldFloat, type IpldValue } from './ipld.ts';
import { GIVE_UP, unlessGivenUp } from './give-up.ts';
import { utf8Text } from './utf8-text.ts';

/** What the reader holds between calls (not the last input, which may be a large buffer). */
const EMPTY = new Uint8Array(0);
let data: Uint8Array = EMPTY;
let pos = 0;
let depthLeft = 0;

/** The value of DAG-JSON `bytes`, or `undefined` when the general reader must decide. */
export function readDagJson(bytes: Uint8Array, maxDepth: number): IpldValue | undefined {
  data = bytes;
  pos = 0;
  // Nesting close to the limit is left to the general reader, which counts it exactly.
  depthLeft = maxDepth - 1;
  return unlessGivenUp(readWhole, letGo);
}

/** Drops the input (which may be a large buffer) once read. */
function letGo(): void {
  data = EMPTY;
}

/** The value of all of `data` (blanks around it), or `undefined` when more follows it. */
function readWhole(): IpldValue | undefined {
  skipBlanks();
  const container = data[pos] === 0x7b || data[pos] === 0x5b;
  const value = readValue();
  // (cborg's reader takes blanks after a map or a list, not after a lone scalar)
  if (container) skipBlanks();
  return pos === data.length ? value : undefined;
}

function skipBlanks(): void {
  for (;;) {
    const c = data[pos];
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
    else return;
  }
}

function readValue(): IpldValue {
  skipBlanks();
  const c = data[pos];
  switch (c) {
    case 0x7b: // {
      return readMap();
    case 0x5b: // [
      return readList();
    case 0x22: // "
      return readString();
    case 0x74: // t
      return literal('true', true);
    case 0x66: // f
      return literal('false', false);
    case 0x6e: // n
      return literal('null', null);
    default:
      if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) return readNumber();
      throw GIVE_UP;
  }
}

function literal<T extends IpldValue>(word: string, value: T): T {
  for (let i = 0; i < word.length; i++) if (data[pos + i] !== word.charCodeAt(i)) throw GIVE_UP;
  pos += word.length;
  return value;
}

/** A string without escapes or control characters, in valid UTF-8. */
function readString(): string {
  const start = pos + 1;
  let ascii = true;
  let i = start;
  for (; i < data.length; i++) {
    const c = data[i]!;
    if (c === 0x22) break;
    if (c === 0x5c || c < 0x20) throw GIVE_UP;
    if (c >= 0x80) ascii = false;
  }
  if (i >= data.length) throw GIVE_UP;
  pos = i + 1;
  const text = utf8Text(data, start, i, ascii);
  if (text === undefined) throw GIVE_UP;
  return text;
}

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;

/** JSON's number grammar; an integer only in the safe range, and never `-0`. */
function readNumber(): number | IpldFloat {
  const start = pos;
  const negative = data[pos] === 0x2d;
  if (negative) pos++;
  let n = 0;
  if (data[pos] === 0x30) {
    pos++;
    // A leading zero, or an exponent straight after a lone zero (cborg reads only 0 or 0.…).
    if (isDigit(data[pos]) || data[pos] === 0x65 || data[pos] === 0x45) throw GIVE_UP;
  } else if (isDigit(data[pos])) {
    while (isDigit(data[pos])) n = n * 10 + (data[pos++]! - 0x30);
  } else throw GIVE_UP;
  let float = false;
  if (data[pos] === 0x2e) {
    float = true;
    pos++;
    if (!isDigit(data[pos])) throw GIVE_UP;
    while (isDigit(data[pos])) pos++;
  }
  if (data[pos] === 0x65 || data[pos] === 0x45) {
    float = true;
    pos++;
    if (data[pos] === 0x2b || data[pos] === 0x2d) pos++;
    if (!isDigit(data[pos])) throw GIVE_UP;
    while (isDigit(data[pos])) pos++;
  }
  if (!float) {
    // (n is exact while it is a safe integer: every step of n * 10 + d was then exact too)
    if (!Number.isSafeInteger(n) || (negative && n === 0)) throw GIVE_UP;
    return negative ? -n : n;
  }
  const v = Number(utf8Text(data, start, pos, true));
  if (!Number.isFinite(v)) throw GIVE_UP;
  // An integral float stays a float (Homestar's number rules, codecs.ts).
  return Number.isSafeInteger(v) || Object.is(v, -0) ? new IpldFloat(v) : v;
}

/** After an opening bracket: true when `close` follows at once (an empty list or map). */
function closesAtOnce(close: number): boolean {
  skipBlanks();
  if (data[pos] !== close) return false;
  pos++;
  return true;
}

/** After an item: true at `close` (the end), false at a comma; anything else gives up. */
function closesAfterItem(close: number): boolean {
  skipBlanks();
  const c = data[pos++];
  if (c === close) return true;
  if (c !== 0x2c) throw GIVE_UP;
  return false;
}

function readList(): IpldValue[] {
  if (--depthLeft <= 0) throw GIVE_UP;
  pos++; // [
  const list: IpldValue[] = [];
  if (!closesAtOnce(0x5d))
    do list.push(readValue());
    while (!closesAfterItem(0x5d));
  depthLeft++;
  return list;
}

function readKey(): string {
  skipBlanks();
  if (data[pos] !== 0x22) throw GIVE_UP;
  const key = readString();
  skipBlanks();
  if (data[pos++] !== 0x3a) throw GIVE_UP; // :
  return key;
}

function readMap(): IpldValue {
  if (--depthLeft <= 0) throw GIVE_UP;
  pos++; // {
  const map: Record<string, IpldValue> = {};
  if (!closesAtOnce(0x7d)) {
    let first = true;
    do {
      const key = readKey();
      if (key === '/') {
        if (!first) throw GIVE_UP;
        return readForm();
      }
      if (key === '__proto__' || Object.hasOwn(map, key)) throw GIVE_UP;
      map[key] = readValue();
      first = false;
    } while (!closesAfterItem(0x7d));
  }
  depthLeft++;
  return map;
}

/** After `{"/":`: a link or bytes, and the closing brace(s); anything else gives up. */
function readForm(): CID | Uint8Array {
  skipBlanks();
  let value: CID | Uint8Array;
  if (data[pos] === 0x22) {
    const text = readString();
    try {
      value = sha3CborCidFromText(text) ?? CID.parse(text);
    } catch {
      throw GIVE_UP;
    }
  } else if (data[pos] === 0x7b) {
    pos++;
    if (readKey() !== 'bytes') throw GIVE_UP;
    skipBlanks();
    if (data[pos] !== 0x22) throw GIVE_UP;
    const text = readString().replace(/=+$/, '');
    try {
      value = base64.baseDecode(text);
    } catch {
      throw GIVE_UP;
    }
    skipBlanks();
    if (data[pos++] !== 0x7d) throw GIVE_UP;
  } else throw GIVE_UP;
  skipBlanks();
  if (data[pos++] !== 0x7d) throw GIVE_UP;
  depthLeft++;
  return value;
}
