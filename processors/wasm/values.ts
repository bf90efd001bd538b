// IPLD ⇄ WIT value mapping, following Homestar's table (homestar-wasm `ipld.rs`), producing and
// consuming the JavaScript representation jco's generated glue uses. Every failure names where
// it happened (`args[1].x: expected u8, got 300`).
import { CID } from 'multiformats/cid';
import { base64 } from 'multiformats/bases/base64';
import { ValueMappingError } from './errors.ts';
import { jsName } from './names.ts';
import type { WitType } from './wit.ts';
import type { ValType } from './binary.ts';

/** Thrown by lowering when a link's content has not been fetched yet; the caller fetches it and retries. */
export class MissingLink extends Error {
  override name = 'MissingLink';
  readonly cid: CID;
  constructor(cid: CID) {
    super(`content of ${cid.toString()} needed`);
    this.cid = cid;
  }
}

export interface LowerContext {
  /** Bytes of a linked CID (a `list<u8>` argument given as a link), or undefined when not fetched. */
  link(cid: CID): Uint8Array | undefined;
}

const INT_RANGE: Record<string, readonly [number, number]> = {
  s8: [-128, 127],
  u8: [0, 255],
  s16: [-32768, 32767],
  u16: [0, 65535],
  s32: [-2147483648, 2147483647],
  u32: [0, 4294967295],
};
const BIG_RANGE: Record<string, readonly [bigint, bigint]> = {
  s64: [-(2n ** 63n), 2n ** 63n - 1n],
  u64: [0n, 2n ** 64n - 1n],
};
const TYPED_ARRAYS = {
  s8: Int8Array,
  u8: Uint8Array,
  s16: Int16Array,
  u16: Uint16Array,
  s32: Int32Array,
  u32: Uint32Array,
  f32: Float32Array,
  f64: Float64Array,
} as const;
const BIG_ARRAYS = { s64: BigInt64Array, u64: BigUint64Array } as const;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return `bytes(${v.byteLength})`;
  if (CID.asCID(v)) return `link ${CID.asCID(v)!.toString()}`;
  if (Array.isArray(v)) return `list(${v.length})`;
  return 'map';
}

function fail(path: string, expected: string, got: unknown): never {
  throw new ValueMappingError(path, `expected ${expected}, got ${describe(got)}`);
}

/** A CID from a decoded link or from the DAG-JSON form `{"/": "<cid>"}`. */
export function asLink(v: unknown): CID | undefined {
  const cid = CID.asCID(v);
  if (cid) return cid;
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array)) {
    const keys = Object.keys(v);
    const slash = (v as Record<string, unknown>)['/'];
    if (keys.length === 1 && typeof slash === 'string') {
      try {
        return CID.parse(slash);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return (
    v !== null &&
    typeof v === 'object' &&
    !Array.isArray(v) &&
    !(v instanceof Uint8Array) &&
    CID.asCID(v) === null &&
    !ArrayBuffer.isView(v)
  );
}

function lowerInt(v: unknown, kind: string, path: string): number {
  const range = INT_RANGE[kind]!;
  let n: number;
  if (typeof v === 'number' && Number.isInteger(v)) n = v;
  else if (typeof v === 'bigint') n = Number(v);
  else return fail(path, kind, v);
  if (n < range[0] || n > range[1]) fail(path, kind, v);
  return n;
}

function lowerBig(v: unknown, kind: 's64' | 'u64', path: string): bigint {
  let n: bigint;
  if (typeof v === 'bigint') n = v;
  else if (typeof v === 'number' && Number.isSafeInteger(v)) n = BigInt(v);
  else return fail(path, kind, v);
  const [lo, hi] = BIG_RANGE[kind]!;
  if (n < lo || n > hi) fail(path, kind, v);
  return n;
}

/** Map one IPLD value to jco's JS representation of WIT type `t`. */
export function lowerValue(v: unknown, t: WitType, path: string, ctx: LowerContext): unknown {
  switch (t.kind) {
    case 'bool':
      if (typeof v !== 'boolean') fail(path, 'bool', v);
      return v;
    case 's8':
    case 'u8':
    case 's16':
    case 'u16':
    case 's32':
    case 'u32':
      return lowerInt(v, t.kind, path);
    case 's64':
    case 'u64':
      return lowerBig(v, t.kind, path);
    case 'f32':
    case 'f64':
      if (typeof v === 'number') return t.kind === 'f32' ? Math.fround(v) : v;
      if (typeof v === 'bigint') return Number(v);
      return fail(path, t.kind, v);
    case 'char': {
      if (typeof v !== 'string' || [...v].length !== 1) fail(path, 'char', v);
      return v;
    }
    case 'string': {
      // Homestar: null ↦ "null", links ↦ their string form, bytes ↦ base64.
      if (typeof v === 'string') return v;
      if (v === null) return 'null';
      const cid = asLink(v);
      if (cid) return cid.toString();
      if (v instanceof Uint8Array) return base64.baseEncode(v);
      return fail(path, 'string', v);
    }
    case 'list':
      return lowerList(v, t.elem, path, ctx);
    case 'option': {
      if (v === null || v === undefined)
        return t.inner.kind === 'option' ? { tag: 'none' } : undefined;
      const inner = lowerValue(v, t.inner, path, ctx);
      return t.inner.kind === 'option' ? { tag: 'some', val: inner } : inner;
    }
    case 'result':
      return lowerResult(v, t, path, ctx);
    case 'tuple': {
      if (!Array.isArray(v) || v.length !== t.items.length)
        fail(path, `tuple of ${t.items.length}`, v);
      return t.items.map((it, i) => lowerValue((v as unknown[])[i], it, `${path}[${i}]`, ctx));
    }
    case 'record': {
      if (!isMap(v)) return fail(path, `record ${t.name}`, v);
      const out: Record<string, unknown> = {};
      for (const f of t.fields) {
        const has = Object.hasOwn(v, f.name);
        if (!has && f.type.kind !== 'option')
          fail(`${path}.${f.name}`, `field of record ${t.name}`, undefined);
        out[jsName(f.name)] = lowerValue(has ? v[f.name] : null, f.type, `${path}.${f.name}`, ctx);
      }
      for (const k of Object.keys(v)) {
        if (!t.fields.some((f) => f.name === k))
          fail(`${path}.${k}`, `a field of record ${t.name}`, 'unknown field');
      }
      return out;
    }
    case 'variant': {
      let tag: string;
      let payload: unknown = null;
      if (typeof v === 'string') tag = v;
      else if (isMap(v) && Object.keys(v).length === 1) {
        tag = Object.keys(v)[0]!;
        payload = v[tag];
      } else return fail(path, `variant ${t.name} (a map with one case)`, v);
      const c = t.cases.find((cc) => cc.name === tag);
      if (!c) return fail(path, `a case of variant ${t.name}`, tag);
      if (!c.type) return { tag };
      return { tag, val: lowerValue(payload, c.type, `${path}.${tag}`, ctx) };
    }
    case 'enum':
      if (typeof v !== 'string' || !t.cases.includes(v))
        return fail(path, `a case of enum ${t.name}`, v);
      return v;
    case 'flags': {
      if (!Array.isArray(v)) return fail(path, `flags ${t.name} (a list of names)`, v);
      const out: Record<string, boolean> = {};
      for (const f of t.flags) out[jsName(f)] = false;
      v.forEach((f, i) => {
        if (typeof f !== 'string' || !t.flags.includes(f))
          fail(`${path}[${i}]`, `a flag of ${t.name}`, f);
        out[jsName(f)] = true;
      });
      return out;
    }
    case 'unsupported':
      return fail(path, `a mappable type (${t.name} is not supported)`, v);
  }
}

function lowerList(v: unknown, elem: WitType, path: string, ctx: LowerContext): unknown {
  if (elem.kind === 'u8') {
    if (v instanceof Uint8Array) return v;
    const cid = asLink(v);
    if (cid) {
      // A link where bytes are expected is resolved to the content (Homestar's image pipelines).
      const bytes = ctx.link(cid);
      if (!bytes) throw new MissingLink(cid);
      return bytes;
    }
  }
  // Homestar: an IPLD map fits list<tuple<string, T>>
  if (
    isMap(v) &&
    !asLink(v) &&
    elem.kind === 'tuple' &&
    elem.items.length === 2 &&
    elem.items[0]!.kind === 'string'
  ) {
    const valueType = elem.items[1]!;
    return Object.entries(v).map(([k, x]) => [k, lowerValue(x, valueType, `${path}.${k}`, ctx)]);
  }
  if (!Array.isArray(v)) return fail(path, `list<${elem.kind}>`, v);
  const items = v.map((x, i) => lowerValue(x, elem, `${path}[${i}]`, ctx));
  if (elem.kind in TYPED_ARRAYS) {
    return TYPED_ARRAYS[elem.kind as keyof typeof TYPED_ARRAYS].from(items as number[]);
  }
  if (elem.kind in BIG_ARRAYS)
    return BIG_ARRAYS[elem.kind as keyof typeof BIG_ARRAYS].from(items as bigint[]);
  return items;
}

function lowerResult(
  v: unknown,
  t: { ok?: WitType; err?: WitType },
  path: string,
  ctx: LowerContext,
): unknown {
  // Homestar's form: [ok, null] or [null, err]; a side without payload is written 1.
  if (Array.isArray(v) && v.length === 2) {
    const [a, b] = v as [unknown, unknown];
    if (b === null && a !== null) {
      return t.ok ? { tag: 'ok', val: lowerValue(a, t.ok, `${path}[0]`, ctx) } : { tag: 'ok' };
    }
    if (a === null && b !== null) {
      return t.err ? { tag: 'err', val: lowerValue(b, t.err, `${path}[1]`, ctx) } : { tag: 'err' };
    }
  }
  if (isMap(v) && Object.keys(v).length === 1) {
    if (Object.hasOwn(v, 'ok'))
      return t.ok
        ? { tag: 'ok', val: lowerValue(v['ok'], t.ok, `${path}.ok`, ctx) }
        : { tag: 'ok' };
    if (Object.hasOwn(v, 'err'))
      return t.err
        ? { tag: 'err', val: lowerValue(v['err'], t.err, `${path}.err`, ctx) }
        : { tag: 'err' };
  }
  return fail(path, 'result ([ok, null] or [null, err])', v);
}

/** Float32 → the shortest decimal that reads back as the same float32 (Homestar goes through a decimal). */
function f32ToIpld(x: number): number {
  if (!Number.isFinite(x)) return x;
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return x;
}

const toIpldInt = (b: bigint): number | bigint =>
  b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b;

/** Map jco's JS value of WIT type `t` back to IPLD. */
export function liftValue(v: unknown, t: WitType, path: string): unknown {
  switch (t.kind) {
    case 'bool':
    case 's8':
    case 'u8':
    case 's16':
    case 'u16':
    case 's32':
    case 'u32':
    case 'f64':
      return v;
    case 's64':
    case 'u64':
      return typeof v === 'bigint' ? toIpldInt(v) : v;
    case 'f32':
      return f32ToIpld(v as number);
    case 'char':
      return v;
    case 'string': {
      // Homestar: "null" ↦ null, a string that parses as a CID ↦ a link.
      const s = v as string;
      if (s === 'null') return null;
      if (s.length >= 46 && /^(Qm|b)[1-9A-Za-z]+$/.test(s)) {
        try {
          return CID.parse(s);
        } catch {
          return s;
        }
      }
      return s;
    }
    case 'list': {
      if (t.elem.kind === 'u8') {
        const bytes = v as Uint8Array;
        // Homestar turns an empty list<u8> into an empty list, not empty bytes.
        return bytes.byteLength === 0
          ? []
          : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      }
      const items = Array.from(v as ArrayLike<unknown>);
      const e = t.elem;
      if (e.kind === 'tuple' && e.items.length === 2 && e.items[0]!.kind === 'string') {
        const out: Record<string, unknown> = {};
        for (const [i, pair] of items.entries()) {
          const [k, x] = pair as [string, unknown];
          out[k] = liftValue(x, e.items[1]!, `${path}[${i}]`);
        }
        return out;
      }
      return items.map((x, i) => liftValue(x, e, `${path}[${i}]`));
    }
    case 'option': {
      if (t.inner.kind === 'option') {
        const tagged = v as { tag: string; val?: unknown } | undefined;
        if (tagged === undefined || tagged === null) return null;
        return tagged.tag === 'none' ? null : liftValue(tagged.val, t.inner, path);
      }
      return v === undefined || v === null ? null : liftValue(v, t.inner, path);
    }
    case 'result': {
      const r = v as { tag: 'ok' | 'err'; val?: unknown };
      if (r.tag === 'ok') return [t.ok ? liftValue(r.val, t.ok, `${path}.ok`) : 1, null];
      return [null, t.err ? liftValue(r.val, t.err, `${path}.err`) : 1];
    }
    case 'tuple':
      return t.items.map((it, i) => liftValue((v as unknown[])[i], it, `${path}[${i}]`));
    case 'record': {
      const o = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of t.fields)
        out[f.name] = liftValue(o[jsName(f.name)], f.type, `${path}.${f.name}`);
      return out;
    }
    case 'variant': {
      const r = v as { tag: string; val?: unknown };
      const c = t.cases.find((cc) => cc.name === r.tag);
      return { [r.tag]: c?.type ? liftValue(r.val, c.type, `${path}.${r.tag}`) : null };
    }
    case 'enum':
      return v;
    case 'flags': {
      const o = v as Record<string, boolean>;
      return t.flags.filter((f) => o[jsName(f)]);
    }
    case 'unsupported':
      throw new ValueMappingError(path, `cannot map a ${t.name} result to IPLD`);
  }
}

/** Map an IPLD value to a core-module parameter of type `t`. */
export function lowerCore(v: unknown, t: ValType, path: string): number | bigint {
  switch (t) {
    case 'i32':
      // i32 accepts the signed and the unsigned 32-bit range (wrapped to signed)
      if (typeof v === 'number' && Number.isInteger(v) && v >= -2147483648 && v <= 4294967295)
        return v | 0;
      return fail(path, 'i32', v);
    case 'i64': {
      const n =
        typeof v === 'bigint'
          ? v
          : typeof v === 'number' && Number.isSafeInteger(v)
            ? BigInt(v)
            : undefined;
      if (n === undefined || n < -(2n ** 63n) || n > 2n ** 64n - 1n) return fail(path, 'i64', v);
      return BigInt.asIntN(64, n);
    }
    case 'f32':
    case 'f64':
      if (typeof v === 'number') return v;
      return fail(path, t, v);
    default:
      return fail(path, `a numeric parameter (${t} is not supported)`, v);
  }
}

/** Map a core-module result to IPLD. */
export function liftCore(v: unknown, t: ValType): unknown {
  if (t === 'i64' && typeof v === 'bigint') return toIpldInt(v);
  if (t === 'f32') return f32ToIpld(v as number);
  return v;
}
