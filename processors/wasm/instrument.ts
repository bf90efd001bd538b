// Deterministic fuel and enforceable memory limits by rewriting a core module's bytes.
//
// Fuel: every function entry and every loop header costs one unit, taken from a mutable i64
// global the module exports as `__ipvm_fuel`; the unit that would take it below zero traps
// (leaving -1 there as the marker).
// The count depends only on the path the code takes, so it is identical on every run and
// machine. (This is the shape of binaryen's `log-execution` pass with the logging call replaced
// by an inline decrement; it is done here directly on the binary because binaryen needs
// hundreds of milliseconds for a 1 MB module, far over the cold-start budget.)
//
// Memory: a module's own memory becomes an import (`ipvm`.`memory`), so the host creates it
// with `maximum` set from the task's limit and the engine enforces it; `memory.grow` is routed
// through a small function that records a refused growth in `__ipvm_grow_failed`, so a trap that
// follows one is reported as a memory-limit failure.
//
// Only sections are appended to or rewritten in place: no function, global, type or table index
// changes, so nothing else in the module needs renumbering.
import {
  OP_KIND,
  Reader,
  WasmFormatError,
  readCoreModule,
  skipImmediates,
  type CoreModuleInfo,
} from './binary.ts';

/** Export name of the fuel global. */
export const FUEL_EXPORT = '__ipvm_fuel';
/** Bump when the instrumenter's output changes: cached instrumented modules are keyed by it. */
export const INSTRUMENT_VERSION = 1;
/** Export name of the "a memory.grow was refused" flag global. */
export const GROW_FAILED_EXPORT = '__ipvm_grow_failed';
/** Import module/name under which the module's memory is supplied by the host. */
export const MEMORY_IMPORT = { module: 'ipvm', name: 'memory' } as const;
/** Prefix of exports added for the module's mutable globals (to reset a reused instance). */
export const GLOBAL_EXPORT_PREFIX = '__ipvm_g';

/** What the instrumenter did, stored beside the instrumented bytes. */
export interface InstrumentReport {
  /** Memory converted to the `ipvm.memory` import: its declared limits (pages). */
  memory?: { initialPages: number; maximumPages?: number };
  /** Names of exported mutable globals added for resets. */
  globals: string[];
  /** False when the code mutates tables or drops segments: instances must not be reused. */
  resettable: boolean;
}

export interface Instrumented {
  bytes: Uint8Array;
  report: InstrumentReport;
}

class Writer {
  private buf: Uint8Array;
  length = 0;
  constructor(capacity = 1024) {
    this.buf = new Uint8Array(capacity);
  }
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.length++] = b;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  u32(v: number): void {
    do {
      let b = v & 0x7f;
      v = Math.floor(v / 128);
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
  }
  name(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u32(b.length);
    this.bytes(b);
  }
  /** A view of the written bytes (the writer must not be used afterwards). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function leb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v = Math.floor(v / 128);
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

/** Instrument a core module for fuel and memory limits. */
export function instrumentCore(
  bytes: Uint8Array,
  info: CoreModuleInfo = readCoreModule(bytes),
): Instrumented {
  const fuelGlobal = info.importedGlobals + info.definedGlobals.length;
  const growGlobal = fuelGlobal + 1;
  const convertMemory =
    info.definedMemories === 1 && !info.memoryImported && info.definedMemory !== undefined;
  if (info.definedMemory && (info.definedMemory.flags & ~1) !== 0) {
    throw new WasmFormatError('shared or 64-bit memories are not supported', 0);
  }
  const hasMemory = info.memoryImported || info.definedMemories > 0;
  const hookType = info.types.length;
  const hookFunc = info.funcTypes.length;
  // Per function: `t = fuel - 1; fuel = t; if (t < 0) unreachable`, with `t` an added i64 local
  // (one global load per check). A trap leaves the global at -1.
  const fuelCheckCache = new Map<number, Uint8Array>();
  const fuelCheckFor = (local: number): Uint8Array => {
    let c = fuelCheckCache.get(local);
    if (!c) {
      c = Uint8Array.from([
        ...[0x23, ...leb(fuelGlobal)], // global.get $fuel
        ...[0x42, 0x01, 0x7d], // i64.const 1; i64.sub
        ...[0x22, ...leb(local)], // local.tee $t
        ...[0x24, ...leb(fuelGlobal)], // global.set $fuel
        ...[0x20, ...leb(local)], // local.get $t
        ...[0x42, 0x00, 0x53], // i64.const 0; i64.lt_s
        ...[0x04, 0x40, 0x00, 0x0b], // if unreachable end
      ]);
      fuelCheckCache.set(local, c);
    }
    return c;
  };
  const growCall = Uint8Array.from([0x10, ...leb(hookFunc)]);
  let resettable = true;

  const out = new Writer(bytes.length * 1.25 + 1024);
  out.bytes(bytes.subarray(0, 8));
  const section = (id: number, body: Writer): void => {
    const content = body.finish();
    out.byte(id);
    out.u32(content.length);
    out.bytes(content);
  };
  const copySection = (start: number, end: number): void => out.bytes(bytes.subarray(start, end));
  const seen = new Set<number>();
  // Sections we must add when absent are emitted just before the first section that follows
  // them in the required order.
  const order = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];
  const rank = (id: number): number => order.indexOf(id);
  const pending = new Map<number, () => void>();

  const emitType = (r?: Reader): void => {
    const w = new Writer();
    const n = r ? r.u32() : 0;
    w.u32(n + (hasMemory ? 1 : 0));
    if (r) w.bytes(r.bytes.subarray(r.pos, r.end));
    if (hasMemory) w.bytes(Uint8Array.from([0x60, 1, 0x7f, 1, 0x7f]));
    section(1, w);
  };
  const emitImport = (r?: Reader): void => {
    const w = new Writer();
    const n = r ? r.u32() : 0;
    w.u32(n + (convertMemory ? 1 : 0));
    if (r) w.bytes(r.bytes.subarray(r.pos, r.end));
    if (convertMemory) {
      const m = info.definedMemory!;
      w.name(MEMORY_IMPORT.module);
      w.name(MEMORY_IMPORT.name);
      w.byte(0x02);
      w.byte(m.flags);
      w.u32(m.min);
      if (m.max !== undefined) w.u32(m.max);
    }
    section(2, w);
  };
  const emitFunction = (r?: Reader): void => {
    const w = new Writer();
    const n = r ? r.u32() : 0;
    w.u32(n + (hasMemory ? 1 : 0));
    if (r) w.bytes(r.bytes.subarray(r.pos, r.end));
    if (hasMemory) w.u32(hookType);
    section(3, w);
  };
  const emitGlobal = (r?: Reader): void => {
    const w = new Writer();
    const n = r ? r.u32() : 0;
    w.u32(n + 2);
    if (r) w.bytes(r.bytes.subarray(r.pos, r.end));
    // (mut i64) (i64.const 2^63-1): start functions run before the host sets the budget
    w.bytes(
      Uint8Array.from([
        0x7e, 0x01, 0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x0b,
      ]),
    );
    w.bytes(Uint8Array.from([0x7f, 0x01, 0x41, 0x00, 0x0b])); // (mut i32) (i32.const 0)
    section(6, w);
  };
  const globalsToExport: { name: string; index: number }[] = [];
  info.definedGlobals.forEach((g, i) => {
    if (g.mutable)
      globalsToExport.push({
        name: `${GLOBAL_EXPORT_PREFIX}${i}`,
        index: info.importedGlobals + i,
      });
  });
  const emitExport = (r?: Reader): void => {
    const w = new Writer();
    const n = r ? r.u32() : 0;
    const extra = [
      { name: FUEL_EXPORT, index: fuelGlobal },
      { name: GROW_FAILED_EXPORT, index: growGlobal },
      ...globalsToExport,
    ].filter((e) => !info.exportNames.has(e.name));
    w.u32(n + extra.length);
    if (r) w.bytes(r.bytes.subarray(r.pos, r.end));
    for (const e of extra) {
      w.name(e.name);
      w.byte(0x03);
      w.u32(e.index);
    }
    section(7, w);
  };
  const emitCode = (r?: Reader): void => {
    const w = new Writer(r ? (r.end - r.pos) * 1.25 + 1024 : 1024);
    const n = r ? r.u32() : 0;
    w.u32(n + (hasMemory ? 1 : 0));
    // Per body: find the insertion points with a table-driven scan (the hot loop of a cold
    // start), then copy the body's slices around the inserted code straight into the output.
    const points: number[] = []; // offset after a loop's block type, or -(offset of memory.grow) - 1
    for (let i = 0; i < n && r; i++) {
      const size = r.u32();
      const bodyStart = r.pos;
      const bodyEnd = bodyStart + size;
      const br = new Reader(bytes, bodyStart, bodyEnd);
      const groups = br.u32();
      const groupsStart = br.pos;
      const type = info.types[info.funcTypes[info.importedFuncs + i]!];
      if (!type) throw new WasmFormatError(`function ${i} has no type`, bodyStart);
      let locals = type.params.length;
      for (let g = groups; g > 0; g--) {
        locals += br.u32();
        const t = bytes[br.pos]!;
        br.pos++;
        if (t === 0x63 || t === 0x64) br.skipLeb();
      }
      const codeStart = br.pos;
      const fuelCheck = fuelCheckFor(locals);
      // locals header with one more group: (1 × i64)
      const header = Uint8Array.from([...leb(groups + 1)]);
      const headerGrowth = header.length - (groupsStart - bodyStart) + 2;
      points.length = 0;
      let pos = codeStart;
      // The cases are the OP_* constants of binary.ts written as literals so the switch
      // compiles to a jump table.
      const kinds = OP_KIND;
      while (pos < bodyEnd) {
        const op = bytes[pos++]!;
        switch (kinds[op]) {
          case 0: // OP_NONE
            break;
          case 1: // OP_LEB
            while (bytes[pos++]! & 0x80);
            break;
          case 2: // OP_LEB2
            while (bytes[pos++]! & 0x80);
            while (bytes[pos++]! & 0x80);
            break;
          case 3: {
            // OP_MEMARG
            const align = bytes[pos]!;
            while (bytes[pos++]! & 0x80);
            if (align & 0x40) while (bytes[pos++]! & 0x80);
            while (bytes[pos++]! & 0x80);
            break;
          }
          case 4: // OP_BLOCK
          case 5: {
            // OP_BLOCK, OP_LOOP
            const b = bytes[pos]!;
            if (b === 0x63 || b === 0x64) pos++;
            while (bytes[pos++]! & 0x80);
            if (op === 0x03) points.push(pos); // loop
            break;
          }
          case 6: // OP_F32
            pos += 4;
            break;
          case 7: // OP_F64
            pos += 8;
            break;
          default: {
            br.pos = pos;
            const tag = skipImmediates(br, op);
            // a memory.grow is recorded as (-(its offset) - 1, offset after its immediate)
            if (tag === 'memory.grow') points.push(-(pos - 1) - 1, br.pos);
            else if (tag !== undefined && tag !== 'loop') resettable = false;
            pos = br.pos;
          }
        }
      }
      if (pos !== bodyEnd)
        throw new WasmFormatError('function body does not end where its size says', pos);
      let newSize = size + headerGrowth + fuelCheck.length;
      for (let k = 0; k < points.length; k++) {
        const p = points[k]!;
        if (p >= 0) newSize += fuelCheck.length;
        else newSize += growCall.length - (points[++k]! - (-p - 1));
      }
      w.u32(newSize);
      w.bytes(header);
      w.bytes(bytes.subarray(groupsStart, codeStart));
      w.byte(0x01);
      w.byte(0x7e);
      w.bytes(fuelCheck);
      let copied = codeStart;
      for (let k = 0; k < points.length; k++) {
        const p = points[k]!;
        if (p >= 0) {
          w.bytes(bytes.subarray(copied, p));
          w.bytes(fuelCheck);
          copied = p;
        } else {
          w.bytes(bytes.subarray(copied, -p - 1));
          w.bytes(growCall);
          copied = points[++k]!;
        }
      }
      w.bytes(bytes.subarray(copied, bodyEnd));
      r.pos = bodyEnd;
    }
    if (hasMemory) {
      const hook = Uint8Array.from([
        0x01,
        0x01,
        0x7f, // one i32 local
        0x20,
        0x00,
        0x40,
        0x00,
        0x22,
        0x01, // local.get 0; memory.grow; local.tee 1
        0x41,
        0x7f,
        0x46,
        0x04,
        0x40, // i32.const -1; i32.eq; if
        0x41,
        0x01,
        0x24,
        ...leb(growGlobal),
        0x0b, // flag = 1; end
        0x20,
        0x01,
        0x0b, // local.get 1; end
      ]);
      w.u32(hook.length);
      w.bytes(hook);
    }
    section(10, w);
  };

  const emitters = new Map<number, (r?: Reader) => void>([
    [1, emitType],
    [2, emitImport],
    [3, emitFunction],
    [6, emitGlobal],
    [7, emitExport],
    [10, emitCode],
  ]);
  const mustExist = [6, 7];
  if (hasMemory) mustExist.push(1, 3, 10);
  if (convertMemory) mustExist.push(2);
  for (const id of mustExist) pending.set(id, () => emitters.get(id)!());

  const flushBefore = (limit: number): void => {
    for (const [pid, emit] of [...pending].sort((a, b) => rank(a[0]) - rank(b[0]))) {
      if (rank(pid) < limit && !seen.has(pid)) {
        emit();
        pending.delete(pid);
        seen.add(pid);
      }
    }
  };

  for (const s of info.sections) {
    if (s.id !== 0) flushBefore(rank(s.id));
    const emitter = emitters.get(s.id);
    if (s.id === 2 && !convertMemory) {
      copySection(s.start, s.end);
    } else if (s.id === 5 && convertMemory) {
      // the memory now comes from the import section
    } else if (emitter) {
      emitter(new Reader(bytes, s.contentStart, s.end));
    } else {
      copySection(s.start, s.end);
    }
    seen.add(s.id);
    pending.delete(s.id);
  }
  flushBefore(Infinity);

  const report: InstrumentReport = {
    globals: globalsToExport.map((g) => g.name),
    resettable,
  };
  if (convertMemory) {
    const m = info.definedMemory!;
    report.memory = { initialPages: m.min };
    if (m.max !== undefined) report.memory.maximumPages = m.max;
  }
  return { bytes: out.finish(), report };
}
