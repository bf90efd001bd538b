// Deterministic fuel and enforceable memory limits by rewriting a core module's bytes.
//
// Fuel: per instruction, with wasmtime's cost model (every instruction costs one unit except
// nop, drop, block, loop, unreachable, return, else and end). Each basic block — the function
// entry and what follows a loop header, if, else, end or branch — is charged its whole cost
// when it is entered. The host sees the fuel in a mutable i64 global the module exports as
// `__ipvm_fuel`: it sets the budget there before a call and reads what is left after it.
// Loop headers and the entries of functions that call check the fuel and trap when it is
// below zero: every runaway loop or recursion passes one, so it stops within one loop-free
// stretch of its budget; an overdraft at the end of a call is seen by the host (the global is
// negative). A block runs whole once entered, so on a normal return the fuel used is exactly
// the cost of the instructions executed: it depends only on the path the code takes, the same
// on every run and machine. (This is the approach of wasm-metering and wasm-instrument, done
// here directly on the binary in one table-driven pass because binaryen needs hundreds of
// milliseconds for a 1 MB module, far over the cold-start budget.)
//
// Where the fuel is counted, per function (as wasmtime does with its fuel variable):
// - local mode, functions with a loop: the fuel lives in an added i64 local, loaded from the
//   global at entry and charged there block by block (a register, where a global costs
//   memory traffic on every block: a tight loop ran ~2.4× slower than uninstrumented with
//   the global, see bench/). The local is stored back to the global before every call and
//   every way out — `return`, a tail call, `unreachable`, a throw, a failed check, the end of
//   the function — and reloaded after every call returns (the callee, or the host through
//   it, may have spent fuel). A branch to the function's own label skips the code before the
//   final `end`, so the body is wrapped in a block whose end falls through to the store.
//   Other traps (a division by zero, an access out of bounds) are not preceded by a store:
//   spilling before every load and store would cost what the local saves. After such a trap
//   the global holds what the trapping function had spent at its last call or entry — a
//   figure that still depends only on the path taken (wasmtime reports a trap's fuel the same
//   way); every exact figure the host reads (a normal return, a fuel trap, a call out to it)
//   is unchanged.
// - global mode, every other function: each block's charge is `fuel -= cost` on the global. A
//   loop-free function enters each block at most once a call, so a local would save little and
//   add a store and a load around each call; a function with exception handlers (a handler
//   would have to reload the local) or with several or reference results (the wrapper block
//   needs a one-byte block type) stays here too.
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
export const INSTRUMENT_VERSION = 3;
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
  /** A view of the written bytes (valid until the next write). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

// Kinds of insertion points in a function body (see emitCode).
const POINT_CHECK = 0; // charge a block and trap if the fuel went below zero
const POINT_CHARGE = 1; // charge a block only
const POINT_GROW = 2; // replace a memory.grow
const POINT_SPILL = 3; // local mode: store the local into the global (before a call or an exit)
const POINT_RELOAD = 4; // local mode: load the local from the global (after a call)

/** Block type of a block with the given results, if it can be written as one byte. */
function wrapperType(results: readonly string[]): number | undefined {
  if (results.length === 0) return 0x40;
  if (results.length > 1) return undefined;
  return { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b }[results[0]!];
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
  // The code inserted (see the header comment). `$f` is the i64 local added to every function:
  // the fuel itself in the local mode, a temporary for the check in the global mode.
  const getGlobal = Uint8Array.from([0x23, ...leb(fuelGlobal)]); // global.get $fuel
  const setGlobal = Uint8Array.from([0x24, ...leb(fuelGlobal)]); // global.set $fuel
  const ltZeroIf = Uint8Array.from([0x42, 0x00, 0x53, 0x04, 0x40]); // i64.const 0; i64.lt_s; if
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
    // start), then write the body's slices around the inserted code (into `body`, reused, whose
    // length is the body's new size).
    const body = new Writer(1024);
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
      // Triples: (POINT_CHECK or POINT_CHARGE, offset where a block starts, its cost),
      // (POINT_GROW, offset of a memory.grow, offset after its immediate) or (POINT_SPILL or
      // POINT_RELOAD, offset, 0) around calls and before exits.
      points.length = 0;
      points.push(POINT_CHECK, codeStart, 0);
      let costSlot = 2;
      let cost = 0;
      let calls = false;
      let loops = false;
      let exceptions = false;
      let pos = codeStart;
      // The cases are the OP_* constants of binary.ts written as literals so the switch
      // compiles to a jump table.
      const kinds = OP_KIND;
      const flow = OP_FLOW;
      while (pos < bodyEnd) {
        const at = pos;
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
          case 1: // FLOW_FREE (try, try_table: exception handlers keep the global mode below)
            if (op === 0x06 || op === 0x1f) exceptions = true;
            break;
          case 4: // FLOW_CALL
            cost++;
            calls = true;
            points.push(POINT_SPILL, at, 0);
            // return_call, return_call_indirect, return_call_ref do not come back
            if (op !== 0x12 && op !== 0x13 && op !== 0x15) points.push(POINT_RELOAD, pos, 0);
            break;
          default: {
            // FLOW_FREE_SPLIT, FLOW_SPLIT: the block ends here; the next one starts after.
            // unreachable, return, throw, rethrow, throw_ref leave the function: spill first.
            if (op <= 0x0a ? op === 0x00 || op >= 0x08 : op === 0x0f)
              points.push(POINT_SPILL, at, 0);
            else if (op === 0x03) loops = true;
            else if (op === 0x18) exceptions = true; // delegate
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
      // local or global mode (see the header comment)
      const blockType = loops && !exceptions ? wrapperType(type.results) : undefined;
      const local = blockType !== undefined;
      body.length = 0;
      body.u32(groups + 1); // one more locals group: (1 × i64)
      body.bytes(bytes.subarray(groupsStart, codeStart));
      body.byte(0x01);
      body.byte(0x7e);
      const f = leb(locals);
      const getLocal = Uint8Array.from([0x20, ...f]);
      const setLocal = Uint8Array.from([0x21, ...f]);
      const teeLocal = Uint8Array.from([0x22, ...f]);
      let copied = codeStart;
      for (let k = 0; k < points.length; k += 3) {
        const kind = points[k]!;
        const at = points[k + 1]!;
        if (kind === POINT_GROW) {
          body.bytes(bytes.subarray(copied, at));
          body.bytes(growCall);
          copied = points[k + 2]!;
          continue;
        }
        if (kind >= POINT_SPILL && !local) continue;
        const c = points[k + 2]!;
        // a block of free instructions (e.g. a lone `end`) costs nothing; checks stay, and the
        // local mode's entry always loads the local
        if (kind === POINT_CHARGE && c === 0 && !(local && k === 0)) continue;
        body.bytes(bytes.subarray(copied, at));
        copied = at;
        if (kind === POINT_SPILL) {
          body.bytes(getLocal);
          body.bytes(setGlobal);
          continue;
        }
        if (kind === POINT_RELOAD) {
          body.bytes(getGlobal);
          body.bytes(setLocal);
          continue;
        }
        // fuel -= c, from the global (global mode, and the local mode's entry) or the local
        body.bytes(local && k > 0 ? getLocal : getGlobal);
        if (c > 0) {
          body.byte(0x42); // i64.const
          body.sleb(c);
          body.byte(0x7d); // i64.sub
        }
        if (kind === POINT_CHECK) {
          // global mode: $f = fuel; global = $f; if ($f < 0) unreachable
          // local mode: $f = fuel; if ($f < 0) { global = $f; unreachable }
          body.bytes(teeLocal);
          if (!local) {
            body.bytes(setGlobal);
            body.bytes(getLocal);
          }
          body.bytes(ltZeroIf);
          if (local) {
            body.bytes(getLocal);
            body.bytes(setGlobal);
          }
          body.byte(0x00); // unreachable
          body.byte(0x0b); // end
        } else body.bytes(local ? setLocal : setGlobal);
        // local mode: the body goes in a block, so a branch to the function's label lands
        // before the spill at the end
        if (local && k === 0) {
          body.byte(0x02);
          body.byte(blockType);
        }
      }
      if (local) {
        // the wrapper block's end, then spill before the function's own end
        body.bytes(bytes.subarray(copied, bodyEnd - 1));
        body.byte(0x0b);
        body.bytes(getLocal);
        body.bytes(setGlobal);
        copied = bodyEnd - 1;
      }
      body.bytes(bytes.subarray(copied, bodyEnd));
      w.u32(body.length);
      w.bytes(body.finish());
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
