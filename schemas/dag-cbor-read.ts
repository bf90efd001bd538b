/**
 * DAG-CBOR read straight from its bytes, for what the node reads by the thousand (events from
 * the log that were not its own, packed memo entries, workflows sent as DAG-CBOR): maps with
 * text keys, lists, text, bytes, integers in the safe range, 64-bit floats, booleans, null and
 * links (tag 42). Several times faster than cborg's tokens (bench/cid.bench.ts).
 *
 * Anything else — an integer beyond the safe range, a key that is not text or comes twice, a
 * tag other than 42, a shorter float, `undefined`, indefinite lengths, a head longer than it
 * needs to be, invalid UTF-8, nesting near the depth limit, bytes after the value, any
 * truncation — makes it give up (`undefined`), and the caller reads the bytes the general way
 * (codecs.ts), which decides and names the offset of what is wrong. What it does read is the
 * general way's value: the property tests compare both. Bytes it gives up on late are read
 * twice: at worst the general way's time again.
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import { isSha3CborCid, sha3CborCidFrom } from './compact-cid.ts';
import { IpldFloat, type IpldValue } from './ipld.ts';
import { GIVE_UP, unlessGivenUp } from './give-up.ts';
import { utf8Text } from './utf8-text.ts';

/** What the reader holds between calls (not the last input, which may be a large buffer). */
const EMPTY = new Uint8Array(0);
let data: Uint8Array = EMPTY;
const EMPTY_VIEW: DataView = new DataView(EMPTY.buffer);
let view: DataView = EMPTY_VIEW;
let pos = 0;
let depthLeft = 0;

/** The value of DAG-CBOR `bytes`, or `undefined` when the general reader must decide. */
export function readDagCbor(bytes: Uint8Array, maxDepth: number): IpldValue | undefined {
  data = bytes;
  view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  pos = 0;
  // Nesting close to the limit is left to the general reader, which counts it exactly.
  depthLeft = maxDepth - 1;
  return unlessGivenUp(readWhole, letGo);
}

/** Drops the input (which may be a large buffer) once read. */
function letGo(): void {
  data = EMPTY;
  view = EMPTY_VIEW;
}

/** The value of all of `data`, or `undefined` when bytes follow it. */
function readWhole(): IpldValue | undefined {
  const value = readValue();
  return pos === data.length ? value : undefined;
}

/** The argument of the head at `pos` (minor `minor`), minimal and in the safe range. */
function argument(minor: number): number {
  if (minor < 24) return minor;
  let n: number;
  if (minor === 24) {
    n = need(1) && data[pos]!;
    pos += 1;
    if (n < 24) throw GIVE_UP;
  } else if (minor === 25) {
    n = need(2) && view.getUint16(pos);
    pos += 2;
    if (n < 0x100) throw GIVE_UP;
  } else if (minor === 26) {
    n = need(4) && view.getUint32(pos);
    pos += 4;
    if (n < 0x10000) throw GIVE_UP;
  } else if (minor === 27) {
    need(8);
    const high = view.getUint32(pos);
    // Beyond the safe range (2^53): the general reader makes it a bigint, or refuses it.
    if (high >= 0x200000) throw GIVE_UP;
    n = high * 0x1_0000_0000 + view.getUint32(pos + 4);
    pos += 8;
    if (n < 0x1_0000_0000) throw GIVE_UP;
  } else throw GIVE_UP; // indefinite lengths and reserved values
  return n;
}

/** True when `n` more bytes follow `pos`; gives up otherwise. */
function need(n: number): true {
  if (pos + n > data.length) throw GIVE_UP;
  return true;
}

function readValue(): IpldValue {
  need(1);
  const head = data[pos++]!;
  const major = head >> 5;
  const minor = head & 0x1f;
  switch (major) {
    case 0:
      return argument(minor);
    case 1: {
      const v = -1 - argument(minor);
      if (!Number.isSafeInteger(v)) throw GIVE_UP; // -2^53: the general reader decides
      return v;
    }
    case 2: {
      const n = argument(minor);
      need(n);
      const bytes = data.slice(pos, pos + n);
      pos += n;
      return bytes;
    }
    case 3:
      return readText(argument(minor));
    case 4:
      return readList(argument(minor));
    case 5:
      return readMap(argument(minor));
    case 6:
      if (head !== 0xd8 || (need(1) && data[pos] !== 42)) throw GIVE_UP;
      pos++;
      return readLink();
    default:
      return readSimple(head);
  }
}

function readText(n: number): string {
  need(n);
  const text = utf8Text(data, pos, pos + n);
  if (text === undefined) throw GIVE_UP;
  pos += n;
  return text;
}

function readList(n: number): IpldValue[] {
  if (--depthLeft <= 0) throw GIVE_UP;
  // (a count no input could hold is not allocated for)
  if (n > data.length - pos) throw GIVE_UP;
  const list: IpldValue[] = [];
  for (let i = 0; i < n; i++) list.push(readValue());
  depthLeft++;
  return list;
}

function readMap(n: number): Record<string, IpldValue> {
  if (--depthLeft <= 0) throw GIVE_UP;
  const map: Record<string, IpldValue> = {};
  for (let i = 0; i < n; i++) {
    need(1);
    const head = data[pos++]!;
    if (head >> 5 !== 3) throw GIVE_UP; // keys are text
    const key = readText(argument(head & 0x1f));
    if (key === '__proto__' || Object.hasOwn(map, key)) throw GIVE_UP;
    map[key] = readValue();
  }
  depthLeft++;
  return map;
}

/** After tag 42: bytes, 0x00 then a binary CID. */
function readLink(): CID {
  need(1);
  const head = data[pos++]!;
  if (head >> 5 !== 2) throw GIVE_UP;
  const n = argument(head & 0x1f);
  need(n);
  if (n === 0 || data[pos] !== 0) throw GIVE_UP;
  const bytes = data.subarray(pos + 1, pos + n);
  pos += n;
  // The usual CID (dag-cbor, sha3-256) in a slab and keeping its text; any other by multiformats.
  if (isSha3CborCid(bytes)) return sha3CborCidFrom(bytes);
  try {
    return CID.decode(bytes.slice());
  } catch {
    throw GIVE_UP;
  }
}

function readSimple(head: number): IpldValue {
  if (head === 0xf4) return false;
  if (head === 0xf5) return true;
  if (head === 0xf6) return null;
  if (head !== 0xfb) throw GIVE_UP; // undefined, shorter floats, other simple values
  need(8);
  const v = view.getFloat64(pos);
  pos += 8;
  if (!Number.isFinite(v)) throw GIVE_UP;
  // An integral float stays a float (Homestar's number rules, codecs.ts).
  return Number.isSafeInteger(v) || Object.is(v, -0) ? new IpldFloat(v) : v;
}
