import wabtInit from 'wabt';
import { describe, expect, it } from 'vitest';
import {
  hasComponentTypeMetadata,
  readCoreModule,
  wasmKind,
} from '../../processors/wasm/binary.ts';
import {
  FUEL_EXPORT,
  GROW_FAILED_EXPORT,
  instrumentCore,
} from '../../processors/wasm/instrument.ts';
import { buildComponent, buildCoreModule, buildEmbedded, watToWasm } from '../components/build.ts';

function instantiate(bytes: Uint8Array, maxPages = 100, imports: WebAssembly.Imports = {}) {
  const { bytes: out, report } = instrumentCore(bytes);
  const module = new WebAssembly.Module(out);
  const memory = new WebAssembly.Memory({
    initial: report.memory?.initialPages ?? 0,
    maximum: maxPages,
  });
  const instance = new WebAssembly.Instance(
    module,
    report.memory ? { ...imports, ipvm: { memory } } : imports,
  );
  const e = instance.exports as Record<string, unknown>;
  const fuel = e[FUEL_EXPORT] as WebAssembly.Global;
  const grow = e[GROW_FAILED_EXPORT] as WebAssembly.Global;
  return { e, fuel, grow, memory, report };
}

describe('binary reader', () => {
  it('tells components, embedded core modules and plain core modules apart', async () => {
    expect(wasmKind(await buildComponent('add-one'))).toBe('component');
    expect(wasmKind(await buildCoreModule('add-one-core'))).toBe('core');
    expect(hasComponentTypeMetadata(await buildEmbedded('add-one'))).toBe(true);
    expect(hasComponentTypeMetadata(await buildCoreModule('add-one'))).toBe(false);
    expect(wasmKind(new TextEncoder().encode('not wasm at all'))).toBeUndefined();
  });

  it('reads exported function signatures', async () => {
    const info = readCoreModule(await buildCoreModule('add-one-core'));
    const t = info.types[info.funcTypes[info.funcExports.get('add_u64')!]!];
    expect(t).toEqual({ params: ['i64', 'i64'], results: ['i64'] });
  });
});

describe('fuel and memory instrumentation', () => {
  it("charges each instruction executed, with wasmtime's free instructions (add_one: 3)", async () => {
    const { e, fuel } = instantiate(await buildCoreModule('add-one-core'));
    fuel.value = 1_000n;
    expect((e['add_one'] as (n: number) => number)(41)).toBe(42);
    // local.get 0; i32.const 1; i32.add (end is free)
    expect(1_000n - (fuel.value as bigint)).toBe(3n);
  });

  it('charges a loop linearly in its iterations, identically every run', async () => {
    const { e, fuel } = instantiate(await buildCoreModule('limits'));
    const count = e['count'] as (n: number) => number;
    const cost = (n: number): bigint => {
      fuel.value = 10_000_000n;
      expect(count(n)).toBe(n);
      return 10_000_000n - (fuel.value as bigint);
    };
    // per iteration: local.get, local.get, i32.ge_u, br_if (4) + local.get, i32.const, i32.add,
    // local.set, br (5); the exit: the 4 of the test, then local.get $i (block, loop, end free)
    expect([cost(1000), cost(1000), cost(1000)]).toEqual([9005n, 9005n, 9005n]);
    expect(cost(50_000)).toBe(9n * 50_000n + 5n);
    expect(cost(0)).toBe(5n);
  });

  it('runs with exactly enough fuel; one unit less ends below zero; a loop traps', async () => {
    const { e, fuel } = instantiate(await buildCoreModule('limits'));
    const count = e['count'] as (n: number) => number;
    fuel.value = 9005n;
    expect(count(1000)).toBe(1000);
    expect(fuel.value).toBe(0n);
    // the last block (local.get $i) is charged without a check: the host reads the overdraft
    fuel.value = 9004n;
    count(1000);
    expect(fuel.value).toBe(-1n);
    // short by a whole iteration: the loop header's check traps
    fuel.value = 9004n - 9n;
    expect(() => count(1000)).toThrow(WebAssembly.RuntimeError);
    expect((fuel.value as bigint) < 0n).toBe(true);
    fuel.value = 1000n;
    expect(() => (e['spin'] as () => number)()).toThrow(WebAssembly.RuntimeError);
    expect(fuel.value).toBe(-1n);
  });

  it('traps in a loop whose header block is free and in recursion', async () => {
    const wasm = await watToWasm(`(module
      (func (export "loop") (loop $l (block) (br $l)))
      (func $r (export "recurse") (block) (call $r)))`);
    const { e, fuel } = instantiate(wasm);
    for (const name of ['loop', 'recurse']) {
      fuel.value = 10_000n;
      expect(() => (e[name] as () => void)()).toThrow(/unreachable/);
      expect((fuel.value as bigint) < 0n).toBe(true);
    }
  });

  it('counts branches, calls, br_table and dead code by the blocks that run', async () => {
    const wasm = await watToWasm(`(module
      (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
      (func (export "pick") (param i32) (result i32)
        (if (result i32) (local.get 0)
          (then (call $sq (i32.const 3)))
          (else (nop) (i32.const 7))))
      (func (export "table") (param i32) (result i32)
        (block $b (block $a (br_table $a $b (local.get 0)) (unreachable) (drop (i32.const 9)))
          (return (i32.const 10)))
        (i32.const 20)))`);
    const { e, fuel } = instantiate(wasm);
    const used = (name: string, arg: number): [number, bigint] => {
      fuel.value = 1_000n;
      const v = (e[name] as (n: number) => number)(arg);
      return [v, 1_000n - (fuel.value as bigint)];
    };
    // then: local.get, if, i32.const, call + in $sq local.get, local.get, i32.mul
    expect(used('pick', 1)).toEqual([9, 7n]);
    // else: local.get, if, then nop (free), i32.const
    expect(used('pick', 0)).toEqual([7, 3n]);
    // local.get, br_table to $a; i32.const 10 (return is free)
    expect(used('table', 0)).toEqual([10, 3n]);
    // local.get, br_table to $b; i32.const 20
    expect(used('table', 1)).toEqual([20, 3n]);
  });

  it('keeps the global exact at every call and exit of a function that holds its fuel in a local', async () => {
    // Functions with a loop count in a local: stored to the global before each call and on
    // every way out (end, return, a branch to the function's label), reloaded after each call.
    const wasm = await watToWasm(`(module
      (import "h" "cb" (func $cb (param i32)))
      (func $sq (export "sq") (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
      (func (export "sumsq") (param $n i32) (result i32)
        (local $i i32) (local $s i32)
        (loop $l
          (if (i32.ge_u (local.get $i) (local.get $n)) (then (return (local.get $s))))
          (local.set $s (i32.add (local.get $s) (call $sq (local.get $i))))
          (call $cb (local.get $i))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l))
        (i32.const -1))
      (func (export "brout") (param $n i32) (result i32)
        (loop $l
          (br_if 1 (i32.const 7) (i32.eqz (local.get $n)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $l))
        (i32.const -1))
      (func (export "two") (param $n i32) (result i32 i32)
        (loop $l (br_if $l (i32.const 0)))
        (local.get $n) (local.get $n)))`);
    const seen: bigint[] = [];
    const budget = 10_000n;
    // the host reads the global during the call and calls back into the module (3 units)
    const cb = (): void => {
      seen.push(budget - (fuel.value as bigint));
      (e['sq'] as (n: number) => number)(2);
    };
    const { e, fuel } = instantiate(wasm, 100, { h: { cb } });
    const used = (name: string, arg: number): [unknown, bigint] => {
      fuel.value = budget;
      const v = (e[name] as (n: number) => unknown)(arg);
      return [v, budget - (fuel.value as bigint)];
    };
    // per iteration: the test (local.get, local.get, i32.ge_u, if: 4), the body (12, with two
    // calls), $sq (3) and the callback's $sq (3); the exit: the test and local.get $s (return free)
    expect(used('sumsq', 4)).toEqual([0 + 1 + 4 + 9, 22n * 4n + 5n]);
    // at the k-th callback: k whole iterations, then the test, the body and $sq
    expect(seen).toEqual([0n, 1n, 2n, 3n].map((k) => 22n * k + 4n + 12n + 3n));
    // br_if to the function's label: i32.const, local.get, i32.eqz, br_if (4) + 5 a turn
    expect(used('brout', 3)).toEqual([7, 9n * 3n + 4n]);
    // several results: the global is charged directly, with the same figures
    expect(used('two', 5)).toEqual([[5, 5], 4n]);
  });

  it('stores the local before a tail call; a function with exception handlers charges the global', async () => {
    // Not in watToWasm's feature set: assembled here with tail calls and (legacy) exceptions.
    const wabt = await wabtInit();
    const parsed = wabt.parseWat(
      'features.wat',
      `(module
        (tag $e)
        (func $sq (param i32) (result i32) (i32.mul (local.get 0) (local.get 0)))
        (func (export "tail") (param $n i32) (result i32)
          (loop $l (br_if $l (i32.const 0)))
          (return_call $sq (local.get $n)))
        (func $thrower (loop $l (br_if $l (i32.const 0))) (throw $e))
        (func (export "caught") (result i32)
          (loop $l (br_if $l (i32.const 0)))
          (try (result i32) (do (call $thrower) (i32.const 1)) (catch $e (i32.const 7)))))`,
      { exceptions: true, tail_call: true },
    );
    const { e, fuel } = instantiate(new Uint8Array(parsed.toBinary({}).buffer));
    parsed.destroy();
    const used = (name: string, ...args: number[]): [number, bigint] => {
      fuel.value = 1_000n;
      const v = (e[name] as (...a: number[]) => number)(...args);
      return [v, 1_000n - (fuel.value as bigint)];
    };
    // i32.const, br_if (2); local.get, return_call (2); $sq (3)
    expect(used('tail', 5)).toEqual([25, 7n]);
    // i32.const, br_if (2); call, i32.const (2, charged on entry); $thrower: 2 + throw (3); the
    // handler's i32.const (1). A local would miss what $thrower spent before it threw.
    expect(used('caught')).toEqual([7, 8n]);
  });

  it("reports the fuel of a trap as of the trapping function's last call or entry, every time", async () => {
    // A trap other than fuel leaves the global where the function last stored its local: the
    // blocks entered since are not counted (as in wasmtime), the same figure on every run.
    const wasm = await watToWasm(`(module
      (import "h" "cb" (func $cb))
      (func (export "div") (param $n i32) (result i32)
        (loop $l (br_if $l (i32.const 0)))
        (call $cb)
        (if (local.get $n) (then (nop)))
        (i32.div_u (i32.const 1) (local.get $n))))`);
    const { e, fuel } = instantiate(wasm, 100, { h: { cb: () => {} } });
    const div = e['div'] as (n: number) => number;
    fuel.value = 1_000n;
    expect(div(1)).toBe(1);
    // i32.const, br_if (2); call, local.get, if (3); i32.const, local.get, i32.div_u (3)
    expect(1_000n - (fuel.value as bigint)).toBe(8n);
    for (let run = 0; run < 2; run++) {
      fuel.value = 1_000n;
      expect(() => div(0)).toThrow(/divide by zero/);
      // stored before the call: the loop's 2 and the call's block (3)
      expect(1_000n - (fuel.value as bigint)).toBe(5n);
    }
  });

  it('turns the memory into a host import and flags refused growth', async () => {
    const { e, fuel, grow, memory, report } = instantiate(await buildCoreModule('limits'), 33);
    expect(report.memory).toEqual({ initialPages: 1 });
    fuel.value = 1_000_000n;
    expect(() => (e['hog'] as () => number)()).toThrow(WebAssembly.RuntimeError);
    expect(grow.value).toBe(1);
    expect(memory.buffer.byteLength).toBe(33 * 65536);
  });

  it('keeps modules without memory valid and exports mutable globals for resets', async () => {
    const wasm = await watToWasm(`(module
      (global $g (mut i32) (i32.const 5))
      (func (export "f") (result i32) (global.set $g (i32.add (global.get $g) (i32.const 1))) (global.get $g)))`);
    const { e, fuel, report } = instantiate(wasm);
    expect(report.memory).toBeUndefined();
    expect(report.globals).toEqual(['__ipvm_g0']);
    fuel.value = 10n;
    expect((e['f'] as () => number)()).toBe(6);
    expect((e['__ipvm_g0'] as WebAssembly.Global).value).toBe(6);
  });

  it('marks modules that mutate tables as not resettable', async () => {
    const wasm = await watToWasm(`(module
      (table 2 funcref)
      (func $a)
      (func (export "f") (table.set (i32.const 0) (ref.func $a)))
      (elem declare func $a))`);
    expect(instrumentCore(wasm).report.resettable).toBe(false);
  });
});
