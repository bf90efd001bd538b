// A small reader for the WebAssembly binary format: enough to tell components from core
// modules, read a core module's imports, exports and function types, and walk function bodies
// instruction by instruction (for instrument.ts). No dependencies, so it runs in microseconds
// on the cold path.

/** Raised for bytes this reader cannot decode (malformed or using an unsupported proposal). */
export class WasmFormatError extends Error {
  override name = 'WasmFormatError';
  /** Byte offset in the module where decoding failed. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`${message} at byte ${offset}`);
    this.offset = offset;
  }
}

export type WasmKind = 'component' | 'core';

/** `'component'`, `'core'`, or undefined when `bytes` is not Wasm at all. */
export function wasmKind(bytes: Uint8Array): WasmKind | undefined {
  if (
    bytes.length < 8 ||
    bytes[0] !== 0 ||
    bytes[1] !== 0x61 ||
    bytes[2] !== 0x73 ||
    bytes[3] !== 0x6d
  ) {
    return undefined;
  }
  // version 1 / layer 0 is a core module; layer 1 is a component
  if (bytes[6] === 1 && bytes[7] === 0) return 'component';
  if (bytes[4] === 1 && bytes[5] === 0 && bytes[6] === 0 && bytes[7] === 0) return 'core';
  return undefined;
}

export class Reader {
  pos: number;
  readonly bytes: Uint8Array;
  readonly end: number;
  constructor(bytes: Uint8Array, pos = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }
  byte(): number {
    if (this.pos >= this.end) throw new WasmFormatError('unexpected end', this.pos);
    return this.bytes[this.pos++]!;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 35) throw new WasmFormatError('LEB128 too long', this.pos);
    }
  }
  /** Skip a signed or unsigned LEB128 of any length (up to 10 bytes). */
  skipLeb(): void {
    for (let i = 0; i < 10; i++) if ((this.byte() & 0x80) === 0) return;
    throw new WasmFormatError('LEB128 too long', this.pos);
  }
  skip(n: number): void {
    this.pos += n;
    if (this.pos > this.end) throw new WasmFormatError('unexpected end', this.pos);
  }
  name(): string {
    const len = this.u32();
    const start = this.pos;
    this.skip(len);
    return new TextDecoder().decode(this.bytes.subarray(start, start + len));
  }
}

/** A section of a core module: id and the byte range of its contents. */
export interface Section {
  id: number;
  /** Offset of the section id byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the section. */
  end: number;
  /** Name, for custom sections (id 0). */
  customName?: string;
}

export function readSections(bytes: Uint8Array): Section[] {
  const r = new Reader(bytes, 8);
  const sections: Section[] = [];
  while (r.pos < bytes.length) {
    const start = r.pos;
    const id = r.byte();
    const size = r.u32();
    const contentStart = r.pos;
    const end = contentStart + size;
    if (end > bytes.length) throw new WasmFormatError('section past end of module', start);
    const section: Section = { id, start, contentStart, end };
    if (id === 0) section.customName = new Reader(bytes, contentStart, end).name();
    sections.push(section);
    r.pos = end;
  }
  return sections;
}

/** Whether a core module carries component-type metadata (`jco embed`, `wit-bindgen`). */
export function hasComponentTypeMetadata(bytes: Uint8Array): boolean {
  if (wasmKind(bytes) !== 'core') return false;
  return readSections(bytes).some((s) => s.id === 0 && s.customName?.startsWith('component-type'));
}

export type ValType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'ref';

export interface FuncType {
  params: ValType[];
  results: ValType[];
}

function valType(r: Reader): ValType {
  const b = r.byte();
  switch (b) {
    case 0x7f:
      return 'i32';
    case 0x7e:
      return 'i64';
    case 0x7d:
      return 'f32';
    case 0x7c:
      return 'f64';
    case 0x7b:
      return 'v128';
    case 0x63:
    case 0x64:
      r.skipLeb();
      return 'ref';
    default:
      if (b >= 0x69 && b <= 0x74) return 'ref'; // abstract reference types (funcref, externref, …)
      throw new WasmFormatError(`unknown value type 0x${b.toString(16)}`, r.pos - 1);
  }
}

/** Read memory/table limits; returns flags, min, max. */
function limits(r: Reader): { flags: number; min: number; max: number | undefined } {
  const flags = r.byte();
  const min = r.u32();
  const max = flags & 1 ? r.u32() : undefined;
  return { flags, min, max };
}

/** What instrumentation and direct calls need to know about a core module. */
export interface CoreModuleInfo {
  sections: Section[];
  types: FuncType[];
  /** Type index of every function, imported ones first. */
  funcTypes: number[];
  importedFuncs: number;
  importedGlobals: number;
  definedGlobals: { type: ValType; mutable: boolean }[];
  /** Imports as `module#name` with their kind. */
  imports: { module: string; name: string; kind: number }[];
  /** Function exports by name → function index. */
  funcExports: Map<string, number>;
  exportNames: Set<string>;
  memoryImported: boolean;
  /** The single defined memory's limits, when the module defines exactly one. */
  definedMemory?: { flags: number; min: number; max: number | undefined };
  definedMemories: number;
}

export function readCoreModule(bytes: Uint8Array): CoreModuleInfo {
  if (wasmKind(bytes) !== 'core') throw new WasmFormatError('not a core module', 0);
  const sections = readSections(bytes);
  const info: CoreModuleInfo = {
    sections,
    types: [],
    funcTypes: [],
    importedFuncs: 0,
    importedGlobals: 0,
    definedGlobals: [],
    imports: [],
    funcExports: new Map(),
    exportNames: new Set(),
    memoryImported: false,
    definedMemories: 0,
  };
  for (const s of sections) {
    const r = new Reader(bytes, s.contentStart, s.end);
    if (s.id === 1) {
      for (let n = r.u32(), i = 0; i < n; i++) {
        const form = r.byte();
        if (form !== 0x60) throw new WasmFormatError('unsupported type form (GC types)', r.pos - 1);
        const params: ValType[] = [];
        for (let k = r.u32(); k > 0; k--) params.push(valType(r));
        const results: ValType[] = [];
        for (let k = r.u32(); k > 0; k--) results.push(valType(r));
        info.types.push({ params, results });
      }
    } else if (s.id === 2) {
      for (let n = r.u32(), i = 0; i < n; i++) {
        const module = r.name();
        const name = r.name();
        const kind = r.byte();
        info.imports.push({ module, name, kind });
        if (kind === 0) {
          info.funcTypes.push(r.u32());
          info.importedFuncs++;
        } else if (kind === 1) {
          valType(r);
          limits(r);
        } else if (kind === 2) {
          limits(r);
          info.memoryImported = true;
        } else if (kind === 3) {
          valType(r);
          r.byte();
          info.importedGlobals++;
        } else if (kind === 4) {
          r.byte();
          r.u32();
        } else throw new WasmFormatError(`unknown import kind ${kind}`, r.pos - 1);
      }
    } else if (s.id === 3) {
      for (let n = r.u32(), i = 0; i < n; i++) info.funcTypes.push(r.u32());
    } else if (s.id === 5) {
      const n = r.u32();
      info.definedMemories = n;
      if (n === 1) info.definedMemory = limits(r);
    } else if (s.id === 6) {
      for (let n = r.u32(), i = 0; i < n; i++) {
        const type = valType(r);
        const mutable = r.byte() === 1;
        info.definedGlobals.push({ type, mutable });
        skipConstExpr(r);
      }
    } else if (s.id === 7) {
      for (let n = r.u32(), i = 0; i < n; i++) {
        const name = r.name();
        const kind = r.byte();
        const index = r.u32();
        info.exportNames.add(name);
        if (kind === 0) info.funcExports.set(name, index);
      }
    }
  }
  return info;
}

export function skipConstExpr(r: Reader): void {
  for (;;) {
    const op = r.byte();
    if (op === 0x0b) return;
    skipImmediates(r, op);
  }
}

function skipBlockType(r: Reader): void {
  const b = r.bytes[r.pos]!;
  if (b === 0x63 || b === 0x64) {
    r.pos++;
    r.skipLeb();
  } else r.skipLeb();
}

function skipMemarg(r: Reader): void {
  const align = r.u32();
  if (align & 0x40) r.u32();
  r.skipLeb();
}

/** Opcodes after which instrumentation must not reuse an instance (they mutate tables or drop segments). */
export const STATEFUL_OPS = new Set(['table.set', 'table.mutate', 'data.drop', 'elem.drop']);

/**
 * Skip the immediates of opcode `op` (already read). Returns a tag for opcodes the
 * instrumenter cares about, else undefined.
 */
export function skipImmediates(r: Reader, op: number): string | undefined {
  switch (op) {
    case 0x02:
    case 0x04:
    case 0x06:
      skipBlockType(r);
      return undefined;
    case 0x03:
      skipBlockType(r);
      return 'loop';
    case 0x07:
    case 0x08:
    case 0x09:
    case 0x0c:
    case 0x0d:
    case 0x10:
    case 0x12:
    case 0x14:
    case 0x15:
    case 0x18:
    case 0x20:
    case 0x21:
    case 0x22:
    case 0x23:
    case 0x24:
    case 0x25:
    case 0xd2:
    case 0xd5:
    case 0xd6:
      r.u32();
      return undefined;
    case 0x26:
      r.u32();
      return 'table.set';
    case 0x0e: {
      for (let n = r.u32(); n >= 0; n--) r.u32();
      return undefined;
    }
    case 0x11:
    case 0x13:
      r.u32();
      r.u32();
      return undefined;
    case 0x1c:
      for (let n = r.u32(); n > 0; n--) valType(r);
      return undefined;
    case 0x1f: {
      skipBlockType(r);
      for (let n = r.u32(); n > 0; n--) {
        const kind = r.byte();
        if (kind === 0 || kind === 1) r.u32();
        r.u32();
      }
      return undefined;
    }
    case 0x3f:
      r.u32();
      return undefined;
    case 0x40:
      return r.u32() === 0 ? 'memory.grow' : undefined;
    case 0x41:
    case 0x42:
    case 0xd0:
      r.skipLeb();
      return undefined;
    case 0x43:
      r.skip(4);
      return undefined;
    case 0x44:
      r.skip(8);
      return undefined;
    case 0xfc:
      return skipFc(r);
    case 0xfd:
      skipSimd(r);
      return undefined;
    case 0xfe: {
      const sub = r.u32();
      if (sub === 0x03) r.byte();
      else skipMemarg(r);
      return undefined;
    }
    case 0xfb:
      throw new WasmFormatError('GC instructions are not supported', r.pos - 1);
    default:
      if (op >= 0x28 && op <= 0x3e) {
        skipMemarg(r);
        return undefined;
      }
      return undefined;
  }
}

function skipFc(r: Reader): string | undefined {
  const sub = r.u32();
  switch (sub) {
    case 8:
    case 10:
      r.u32();
      r.u32();
      return undefined;
    case 9:
      r.u32();
      return 'data.drop';
    case 11:
    case 16:
      r.u32();
      return undefined;
    case 12:
    case 14:
      r.u32();
      r.u32();
      return 'table.mutate';
    case 13:
      r.u32();
      return 'elem.drop';
    case 15:
    case 17:
      r.u32();
      return 'table.mutate';
    default:
      if (sub <= 7) return undefined;
      throw new WasmFormatError(`unknown 0xfc opcode ${sub}`, r.pos);
  }
}

function skipSimd(r: Reader): void {
  const sub = r.u32();
  if (sub <= 11 || sub === 92 || sub === 93) skipMemarg(r);
  else if (sub === 12 || sub === 13) r.skip(16);
  else if (sub >= 21 && sub <= 34) r.byte();
  else if (sub >= 84 && sub <= 91) {
    skipMemarg(r);
    r.byte();
  }
}

// Immediate shapes by opcode, for the instrumenter's fast scan: 0 none, 1 one LEB128,
// 2 two LEB128s, 3 memarg, 4 block type, 5 loop (block type), 6 4 bytes, 7 8 bytes,
// 8 anything else (decoded by skipImmediates).
export const OP_NONE = 0;
export const OP_LEB = 1;
export const OP_LEB2 = 2;
export const OP_MEMARG = 3;
export const OP_BLOCK = 4;
export const OP_LOOP = 5;
export const OP_F32 = 6;
export const OP_F64 = 7;
export const OP_SLOW = 8;

export const OP_KIND: Uint8Array = (() => {
  const k = new Uint8Array(256);
  for (const op of [
    0x07, 0x08, 0x09, 0x0c, 0x0d, 0x10, 0x12, 0x14, 0x15, 0x18, 0x25, 0x3f, 0x41, 0x42, 0xd0, 0xd2,
    0xd5, 0xd6,
  ]) {
    k[op] = OP_LEB;
  }
  for (let op = 0x20; op <= 0x24; op++) k[op] = OP_LEB;
  k[0x11] = OP_LEB2;
  k[0x13] = OP_LEB2;
  for (let op = 0x28; op <= 0x3e; op++) k[op] = OP_MEMARG;
  k[0x02] = OP_BLOCK;
  k[0x04] = OP_BLOCK;
  k[0x06] = OP_BLOCK;
  k[0x03] = OP_LOOP;
  k[0x43] = OP_F32;
  k[0x44] = OP_F64;
  for (const op of [0x0e, 0x1c, 0x1f, 0x26, 0x40, 0xfb, 0xfc, 0xfd, 0xfe]) k[op] = OP_SLOW;
  return k;
})();

// Fuel cost and control-flow role of each opcode, for the instrumenter (the cost model of
// wasmtime's fuel: every instruction costs one unit except nop, drop, block, loop,
// unreachable, return, else and end, which generate no work of their own).
// FLOW_COST: costs 1, straight line. FLOW_FREE: costs 0, straight line. FLOW_FREE_SPLIT: costs 0
// and what follows is a new basic block (a branch target or code after an exit). FLOW_SPLIT:
// costs 1 and what follows is a new basic block (a conditional or unconditional branch).
// FLOW_CALL: costs 1, straight line, and is a call (a function that calls may recurse, so its
// entry is checked). Calls do not split: a callee returns to the next instruction, so its
// caller's block is charged whole on entry.
export const FLOW_COST = 0;
export const FLOW_FREE = 1;
export const FLOW_FREE_SPLIT = 2;
export const FLOW_SPLIT = 3;
export const FLOW_CALL = 4;

export const OP_FLOW: Uint8Array = (() => {
  const f = new Uint8Array(256); // FLOW_COST
  for (const op of [0x01, 0x1a, 0x02, 0x06, 0x1f]) f[op] = FLOW_FREE; // nop drop block try try_table
  // unreachable loop else catch delegate catch_all end return
  for (const op of [0x00, 0x03, 0x05, 0x07, 0x18, 0x19, 0x0b, 0x0f]) f[op] = FLOW_FREE_SPLIT;
  // if throw rethrow throw_ref br br_if br_table br_on_null br_on_non_null
  for (const op of [0x04, 0x08, 0x09, 0x0a, 0x0c, 0x0d, 0x0e, 0xd5, 0xd6]) f[op] = FLOW_SPLIT;
  // call call_indirect return_call return_call_indirect call_ref return_call_ref
  for (let op = 0x10; op <= 0x15; op++) f[op] = FLOW_CALL;
  return f;
})();
