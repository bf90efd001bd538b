// Reads the simplest kind of component without jco: one core module, instantiated with no
// imports, whose exported functions are canon-lifted core exports taking and returning only
// scalars (integers, floats, bool). Such a component needs no glue: the canonical ABI for
// scalars is a plain value conversion (runner.ts's direct call), so it can be run from its core
// module alone. jco's transpile costs hundreds of milliseconds and ~60 MiB on a cold start; this
// reader costs microseconds. Anything else — imports, nested components, strings, lists,
// resources, post-return functions, a start function — returns undefined and goes through jco.
import { Reader, wasmKind } from './binary.ts';
import type { WitFunction, WitPrimitive, WitWorld } from './wit.ts';

/** What the loader needs to run a glue-free component. */
export interface SimpleComponent {
  /** The embedded core module, byte for byte (a copy). */
  core: Uint8Array;
  world: WitWorld;
  /** WIT export name → the core export it lifts. */
  coreExports: Record<string, string>;
}

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
};

interface FuncSig {
  params: { name: string; type: { kind: WitPrimitive } }[];
  result?: { kind: WitPrimitive };
}

/** Thrown inside the reader for anything outside the simple shape; never escapes. */
class NotSimple extends Error {}

function scalar(r: Reader): { kind: WitPrimitive } {
  const kind = PRIMITIVE[r.byte()];
  if (kind === undefined) throw new NotSimple('not a scalar');
  return { kind };
}

function funcType(r: Reader): FuncSig {
  if (r.byte() !== 0x40) throw new NotSimple('not a function type');
  const params: FuncSig['params'] = [];
  for (let n = r.u32(); n > 0; n--) params.push({ name: r.name(), type: scalar(r) });
  const form = r.byte();
  if (form === 0x00) return { params, result: scalar(r) };
  // 0x01 0x00: no result (both the current and the older named-results encodings)
  if (form === 0x01 && r.byte() === 0x00) return { params };
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
  const types: FuncSig[] = [];
  const funcs: { coreExport: string; sig: FuncSig }[] = []; // component func index space
  const exports: WitFunction[] = [];
  const coreExports: Record<string, string> = {};
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
          else if (sort !== 0x01 && sort !== 0x02 && sort !== 0x03) return undefined;
        }
        break;
      case 7: // types: function types over scalars only
        for (let n = s.u32(); n > 0; n--) types.push(funcType(s));
        break;
      case 8: // canon: only `lift` without post-return or async
        for (let n = s.u32(); n > 0; n--) {
          if (s.byte() !== 0x00 || s.byte() !== 0x00) return undefined;
          const coreExport = coreFuncs[s.u32()];
          for (let k = s.u32(); k > 0; k--) {
            const opt = s.byte();
            if (opt === 0x03 || opt === 0x04) s.u32();
            else if (opt > 0x02) return undefined;
          }
          const sig = types[s.u32()];
          if (coreExport === undefined || sig === undefined) return undefined;
          funcs.push({ coreExport, sig });
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
          coreExports[name] = f.coreExport;
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
