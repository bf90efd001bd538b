// Reads the simplest kind of component without jco: one core module, instantiated with no
// imports, whose exported functions are canon-lifted core exports taking and returning scalars
// (integers, floats, bool), strings and byte lists (`list<u8>`). Such a component needs no glue:
// the canonical ABI for scalars is a plain value conversion, and for a string or a byte list it
// is one `cabi_realloc` call and a copy in, a read of the (pointer, length) pair the function
// returns and a copy out, then its post-return function (runner.ts's direct call). It can be run
// from its core module alone. jco's transpile costs hundreds of milliseconds and ~45 MiB on a
// cold start (and its per-call glue tens of microseconds); this reader costs microseconds.
// Anything else — imports, nested components, records, other lists, resources, a string
// encoding other than UTF-8, async lifts, a start function — returns undefined and goes through
// jco.
import { Reader, wasmKind } from './binary.ts';
import type { WitFunction, WitPrimitive, WitType, WitWorld } from './wit.ts';

/** The core functions and memory one lifted export uses (core export names). */
export interface CoreLift {
  /** The lifted core function. */
  func: string;
  /** The memory strings and byte lists are read from and written to. */
  memory?: string;
  /** `cabi_realloc`: allocates the arguments' strings and byte lists in the guest. */
  realloc?: string;
  /** Called with the function's return value once its result is copied out. */
  postReturn?: string;
}

/** What the loader needs to run a glue-free component. */
export interface SimpleComponent {
  /** The embedded core module, byte for byte (a copy). */
  core: Uint8Array;
  world: WitWorld;
  /** WIT export name → the core function (and memory, realloc, post-return) it lifts. */
  coreExports: Record<string, CoreLift>;
}

/** A value type a glue-free export may take or return. */
type SimpleType = { kind: WitPrimitive } | { kind: 'list'; elem: { kind: 'u8' } };

const PRIMITIVE: Record<number, WitPrimitive> = {
  0x7f: 'bool',
  0x7e: 's8',
  0x7d: 'u8',
  0x7c: 's16',
  0x7b: 'u16',
  0x7a: 's32',
  0x79: 'u32',
  0x78: 's64',
  0x77: 'u64',
  0x76: 'f32',
  0x75: 'f64',
  0x73: 'string',
};

const BYTES: { kind: 'list'; elem: { kind: 'u8' } } = { kind: 'list', elem: { kind: 'u8' } };

/** Canon options naming a core memory or function, by code, and where a lift keeps them. */
const CANON_OPTION: Record<number, 'memory' | 'realloc' | 'postReturn'> = {
  0x03: 'memory',
  0x04: 'realloc',
  0x05: 'postReturn',
};

interface FuncSig {
  params: { name: string; type: SimpleType }[];
  result?: SimpleType;
}

/** An entry of the component's type index space: a function type or `list<u8>`. */
type TypeEntry = FuncSig | typeof BYTES;

/** Whether a value of this type is passed through memory (a pointer and a length). */
export function inMemory(t: WitType): boolean {
  return t.kind === 'string' || t.kind === 'list';
}

/** Thrown inside the reader for anything outside the simple shape; never escapes. */
class NotSimple extends Error {}

/** A value type: a primitive, or an index of a `list<u8>` defined earlier. */
function valType(r: Reader, types: TypeEntry[]): SimpleType {
  const b = r.bytes[r.pos]!;
  if (b < 0x40 || b >= 0x80) {
    const t = types[r.u32()]; // a type index (an s33 that is never negative here)
    if (t !== BYTES) throw new NotSimple('not a byte list');
    return BYTES;
  }
  const kind = PRIMITIVE[r.byte()];
  if (kind === undefined) throw new NotSimple('not a scalar, string or byte list');
  return { kind };
}

function typeEntry(r: Reader, types: TypeEntry[]): TypeEntry {
  const form = r.byte();
  if (form === 0x70) {
    // list<u8>
    if (r.byte() !== 0x7d) throw new NotSimple('a list of something other than u8');
    return BYTES;
  }
  if (form !== 0x40) throw new NotSimple('not a function type');
  const params: FuncSig['params'] = [];
  for (let n = r.u32(); n > 0; n--) params.push({ name: r.name(), type: valType(r, types) });
  const result = r.byte();
  if (result === 0x00) return { params, result: valType(r, types) };
  // 0x01 0x00: no result (both the current and the older named-results encodings)
  if (result === 0x01 && r.byte() === 0x00) return { params };
  throw new NotSimple('named or multiple results');
}

/**
 * The component's core module, world and export mapping when it has the simple shape described
 * above; undefined otherwise (including when the bytes are malformed: jco then reports why).
 */
export function readSimpleComponent(bytes: Uint8Array): SimpleComponent | undefined {
  try {
    return read(bytes);
  } catch {
    return undefined;
  }
}

function read(bytes: Uint8Array): SimpleComponent | undefined {
  if (wasmKind(bytes) !== 'component' || bytes[4] !== 0x0d || bytes[5] !== 0x00) return undefined;
  const r = new Reader(bytes, 8);
  let core: Uint8Array | undefined;
  let coreInstances = 0;
  const coreFuncs: string[] = []; // core func index → export name of core instance 0
  const coreMemories: string[] = []; // core memory index → export name of core instance 0
  const types: TypeEntry[] = [];
  const funcs: { lift: CoreLift; sig: FuncSig }[] = []; // component func index space
  const exports: WitFunction[] = [];
  const coreExports: Record<string, CoreLift> = {};
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (end > bytes.length) return undefined;
    const s = new Reader(bytes, r.pos, end);
    switch (id) {
      case 0: // custom
        break;
      case 1: // core module
        if (core !== undefined) return undefined;
        core = bytes.slice(s.pos, end);
        s.pos = end;
        if (wasmKind(core) !== 'core' || hasImports(core)) return undefined;
        break;
      case 2: // core instances: only `instantiate 0` with no arguments
        for (let n = s.u32(); n > 0; n--) {
          if (s.byte() !== 0x00 || s.u32() !== 0 || s.u32() !== 0) return undefined;
          if (++coreInstances > 1) return undefined;
        }
        break;
      case 6: // aliases: only core exports of core instance 0
        for (let n = s.u32(); n > 0; n--) {
          if (s.byte() !== 0x00) return undefined; // a core sort
          const sort = s.byte();
          if (s.byte() !== 0x01 || s.u32() !== 0) return undefined;
          const name = s.name();
          if (sort === 0x00) coreFuncs.push(name);
          else if (sort === 0x02) coreMemories.push(name);
          else if (sort !== 0x01 && sort !== 0x03) return undefined;
        }
        break;
      case 7: // types: function types over scalars, strings and byte lists; list<u8>
        for (let n = s.u32(); n > 0; n--) types.push(typeEntry(s, types));
        break;
      case 8: // canon: only a synchronous `lift`, UTF-8 strings
        for (let n = s.u32(); n > 0; n--) {
          if (s.byte() !== 0x00 || s.byte() !== 0x00) return undefined;
          const func = coreFuncs[s.u32()];
          if (func === undefined) return undefined;
          const lift: CoreLift = { func };
          for (let k = s.u32(); k > 0; k--) {
            const opt = s.byte();
            if (opt === 0x00) continue; // string-encoding=utf8
            const field = CANON_OPTION[opt];
            if (field === undefined) return undefined; // UTF-16, Latin-1, async, callback
            const name = (field === 'memory' ? coreMemories : coreFuncs)[s.u32()];
            if (name === undefined) return undefined;
            lift[field] = name;
          }
          const f = types[s.u32()];
          if (f === undefined || !('params' in f)) return undefined; // a list type, not a function
          const passes = [...f.params.map((p) => p.type), ...(f.result ? [f.result] : [])];
          // What the canonical ABI needs for memory-passed values (as a validator checks)
          if (passes.some(inMemory) && lift.memory === undefined) return undefined;
          if (f.params.some((p) => inMemory(p.type)) && lift.realloc === undefined)
            return undefined;
          funcs.push({ lift, sig: f });
        }
        break;
      case 11: // exports: functions only
        for (let n = s.u32(); n > 0; n--) {
          if (s.byte() !== 0x00) return undefined;
          const name = s.name();
          if (s.byte() !== 0x01) return undefined; // sort: func
          const f = funcs[s.u32()];
          if (f === undefined) return undefined;
          const ascribed = s.byte();
          if (ascribed === 0x01) {
            // an ascribed type must be the function's own
            if (s.byte() !== 0x01 || types[s.u32()] !== f.sig) return undefined;
          } else if (ascribed !== 0x00) return undefined;
          funcs.push(f); // an export adds a function index
          exports.push({
            name,
            params: f.sig.params,
            ...(f.sig.result ? { result: f.sig.result } : {}),
          });
          coreExports[name] = f.lift;
        }
        break;
      default: // nested components, instances, core types, imports, start, values
        return undefined;
    }
    if (id !== 0 && s.pos !== end) return undefined;
    r.pos = end;
  }
  if (core === undefined || coreInstances !== 1 || exports.length === 0) return undefined;
  return { core, world: { exports, imports: [] }, coreExports };
}

function hasImports(core: Uint8Array): boolean {
  const r = new Reader(core, 8);
  while (r.pos < core.length) {
    const id = r.byte();
    const size = r.u32();
    if (id === 2) return new Reader(core, r.pos, r.pos + size).u32() > 0;
    r.pos += size;
  }
  return false;
}
