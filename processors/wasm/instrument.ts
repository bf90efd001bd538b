// Deterministic fuel and enforceable memory limits by rewriting a core module's bytes.
//
// Fuel: per instruction, with wasmtime's cost model (every instruction costs one unit except
// nop, drop, block, loop, unreachable, return, else and end). Each basic block — the function
// entry and what follows a loop header, if, else, end or branch — is charged its whole cost
// when it is entered, from a mutable i64 global the module exports as `__ipvm_fuel`. Loop
// headers and the entries of functions that call check the global and trap when it is below
// zero: every runaway loop or recursion passes one, so it stops within one loop-free stretch
// of its budget; an overdraft at the end of a call is seen by the host (the global is
// negative). A block runs whole once entered, so on a normal return the fuel used is exactly
// the cost of the instructions executed: it depends only on the path the code takes, the same
// on every run and machine. (This is the approach of wasm-metering and wasm-instrument, done
// here directly on the binary in one table-driven pass because binaryen needs hundreds of
// milliseconds for a 1 MB module, far over the cold-start budget.)
//
// Memory: a module's own memory becomes an import (`ipvm`.`memory`), so the host creates it
// with `maximum` set from the task's limit and the engine enforces it; `memory.grow` is routed
// through a small function that records a refused growth in `__ipvm_grow_failed`, so a trap that
// follows one is reported as a memory-limit failure.
//
// Only sections are appended to or rewritten in place: no function, global, type or table index
// changes, so nothing else in the module needs renumbering.
import {
  OP_FLOW,
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
export const INSTRUMENT_VERSION = 2;
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
  /** Signed LEB128 of a non-negative integer (an `i64.const` immediate). */
  sleb(v: number): void {
    for (;;) {
      const b = v & 0x7f;
      v = Math.floor(v / 128);
      if (v === 0 && (b & 0x40) === 0) {
        this.byte(b);
        return;
      }
      this.byte(b | 0x80);
    }
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

/** Bytes of the signed LEB128 of a non-negative integer. */
function slebLength(v: number): number {
  let n = 1;
  while (v >= 64) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

// Kinds of insertion points in a function body (see emitCode).
const POINT_CHECK = 0; // charge a block and trap if the fuel went below zero
const POINT_CHARGE = 1; // charge a block only
const POINT_GROW = 2; // replace a memory.grow

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
  // At the start of each basic block: `fuel -= cost` on the global. At loop headers and at the
  // entry of functions that call, where every cycle of branches or calls passes, the charge is
  // followed by `if (fuel < 0) unreachable` (through an added i64 local `t`, one global load).
  // Checking there only keeps straight-line code cheap (four instructions a block) while an
  // overspent budget is still caught before another iteration or call; one that is overspent
  // at the end of the call is caught by the host, which reads the global (negative = exhausted).
  const chargeHead = Uint8Array.from([0x23, ...leb(fuelGlobal), 0x42]); // global.get $fuel; i64.const
  const chargeTail = Uint8Array.from([0x7d, 0x24, ...leb(fuelGlobal)]); // i64.sub; global.set $fuel
  const checkTailFor = (local: number): Uint8Array =>
    Uint8Array.from([
      0x7d, // i64.sub
      ...[0x22, ...leb(local)], // local.tee $t
      ...[0x24, ...leb(fuelGlobal)], // global.set $fuel
      ...[0x20, ...leb(local)], // local.get $t
      ...[0x42, 0x00, 0x53], // i64.const 0; i64.lt_s
      ...[0x04, 0x40, 0x00, 0x0b], // if unreachable end
    ]);
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
    const points: number[] = [];
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
      const checkTail = checkTailFor(locals);
      const checkFixed = chargeHead.length + checkTail.length;
      const chargeFixed = chargeHead.length + chargeTail.length;
      // locals header with one more group: (1 × i64)
      const header = Uint8Array.from([...leb(groups + 1)]);
      const headerGrowth = header.length - (groupsStart - bodyStart) + 2;
      // Triples: (POINT_CHECK or POINT_CHARGE, offset where a block starts, its cost) or
      // (POINT_GROW, offset of a memory.grow, offset after its immediate).
      points.length = 0;
      points.push(POINT_CHECK, codeStart, 0);
      let costSlot = 2;
      let cost = 0;
      let calls = false;
      let pos = codeStart;
      // The cases are the OP_* constants of binary.ts written as literals so the switch
      // compiles to a jump table.
      const kinds = OP_KIND;
      const flow = OP_FLOW;
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
            if (tag === 'memory.grow') points.push(POINT_GROW, pos - 1, br.pos);
            else if (tag !== undefined && tag !== 'loop') resettable = false;
            pos = br.pos;
          }
        }
        // The cases are the FLOW_* constants of binary.ts.
        switch (flow[op]) {
          case 0: // FLOW_COST
            cost++;
            break;
          case 1: // FLOW_FREE
            break;
          case 4: // FLOW_CALL
            cost++;
            calls = true;
            break;
          default: {
            // FLOW_FREE_SPLIT, FLOW_SPLIT: the block ends here; the next one starts after
            if (flow[op] === 3) cost++;
            points[costSlot] = cost;
            cost = 0;
            if (pos < bodyEnd) {
              points.push(op === 0x03 ? POINT_CHECK : POINT_CHARGE, pos, 0);
              costSlot = points.length - 1;
            }
          }
        }
      }
      if (pos !== bodyEnd)
        throw new WasmFormatError('function body does not end where its size says', pos);
      // A function that calls nothing cannot recurse: its loops are checked at their headers,
      // so its entry is only charged (a trivial export pays a few instructions per call).
      if (!calls) points[0] = POINT_CHARGE;
      let newSize = size + headerGrowth;
      for (let k = 0; k < points.length; k += 3) {
        const kind = points[k]!;
        const c = points[k + 2]!;
        if (kind === POINT_CHECK) newSize += checkFixed + slebLength(c);
        else if (kind === POINT_CHARGE) {
          if (c > 0) newSize += chargeFixed + slebLength(c);
        } else newSize += growCall.length - (points[k + 2]! - points[k + 1]!);
      }
      w.u32(newSize);
      w.bytes(header);
      w.bytes(bytes.subarray(groupsStart, codeStart));
      w.byte(0x01);
      w.byte(0x7e);
      let copied = codeStart;
      for (let k = 0; k < points.length; k += 3) {
        const at = points[k + 1]!;
        const kind = points[k]!;
        if (kind !== POINT_GROW) {
          const c = points[k + 2]!;
          // a block of free instructions (e.g. a lone `end`) costs nothing; checks stay
          if (c === 0 && kind === POINT_CHARGE) continue;
          w.bytes(bytes.subarray(copied, at));
          w.bytes(chargeHead);
          w.sleb(c);
          w.bytes(kind === POINT_CHECK ? checkTail : chargeTail);
          copied = at;
        } else {
          w.bytes(bytes.subarray(copied, at));
          w.bytes(growCall);
          copied = points[k + 2]!;
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
