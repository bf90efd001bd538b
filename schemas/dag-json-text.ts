/**
 * DAG-JSON text written straight from a value, for the values the node writes by the thousand
 * (receipts' outputs for the tables and the API, workflows a client sends): plain objects,
 * lists, strings, safe integers, finite floats, booleans, null, links, bytes. About ten times
 * faster than going through cborg's token objects (bench/cid.bench.ts).
 *
 * Anything else (a bigint, a class instance, a map with a `/` key, `undefined`, a value too
 * deep for the stack…) makes it throw {@link Unusual}, and the caller encodes the value the
 * general way (codecs.ts), which also gives the error a value outside the data model deserves.
 * The text is the general way's, character for character: the property tests compare both on
 * arbitrary values.
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import { base64 } from 'multiformats/bases/base64';
import { IpldFloat } from './ipld.ts';

/** Thrown for a value outside the fast path. */
export class Unusual extends Error {}

const UNUSUAL = new Unusual('a value outside the fast DAG-JSON path');

/** A finite float as cborg's JSON writes it: `String(v)`, with `.0` when it has no point. */
function floatText(v: number): string {
  const s = String(v);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e || c === 0x65 || c === 0x45) return s; // . e E
  }
  return `${s}.0`;
}

function stringText(s: string): string {
  // Printable ASCII without `"` or `\` (keys, CIDs, most text) is written as it is.
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) return `"${s}"`;
  // A lone surrogate is not Unicode: the general way names it.
  if (!s.isWellFormed()) throw UNUSUAL;
  return JSON.stringify(s);
}

/** The DAG-JSON text of `value`; throws {@link Unusual} outside the fast path. */
export function dagJsonText(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return stringText(value);
    case 'number':
      if (Number.isSafeInteger(value)) return String(value); // -0 too: "0", as cborg writes it
      if (!Number.isFinite(value)) throw UNUSUAL;
      return floatText(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let s = '[';
        for (let i = 0; i < value.length; i++) {
          if (i > 0) s += ',';
          s += dagJsonText(value[i]);
        }
        return `${s}]`;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto === Object.prototype || proto === null) {
        // (a map that could be taken for a link is left to the general way)
        if ('/' in value || 'asCID' in value) throw UNUSUAL;
        const map = value as Record<string, unknown>;
        // Sorted as cborg's JSON writer sorts keys: by JavaScript's string order.
        const keys = Object.keys(map);
        for (let i = 1; i < keys.length; i++) {
          if (keys[i - 1]! > keys[i]!) {
            keys.sort();
            break;
          }
        }
        let s = '{';
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i]!;
          if (i > 0) s += ',';
          s += `${stringText(k)}:${dagJsonText(map[k])}`;
        }
        return `${s}}`;
      }
      if (value instanceof CID) return `{"/":"${value.toString()}"}`;
      if (value instanceof IpldFloat) {
        const v = value.value;
        if (!Number.isFinite(v)) throw UNUSUAL;
        return Object.is(v, -0) ? '-0.0' : floatText(v);
      }
      if (value instanceof Uint8Array) return `{"/":{"bytes":"${base64.encode(value).slice(1)}"}}`;
      throw UNUSUAL;
    }
    default:
      throw UNUSUAL;
  }
}
