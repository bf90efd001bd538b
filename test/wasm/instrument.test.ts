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

function instantiate(bytes: Uint8Array, maxPages = 100) {
  const { bytes: out, report } = instrumentCore(bytes);
  const module = new WebAssembly.Module(out);
  const memory = new WebAssembly.Memory({
    initial: report.memory?.initialPages ?? 0,
    maximum: maxPages,
  });
  const instance = new WebAssembly.Instance(module, report.memory ? { ipvm: { memory } } : {});
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
  it('charges one unit per function entry and per loop iteration, identically every run', async () => {
    const { e, fuel } = instantiate(await buildCoreModule('limits'));
    const count = e['count'] as (n: number) => number;
    const used: bigint[] = [];
    for (let run = 0; run < 3; run++) {
      fuel.value = 1_000_000n;
      expect(count(1000)).toBe(1000);
      used.push(1_000_000n - (fuel.value as bigint));
    }
    // 1 entry + 1001 loop headers (the last one exits)
    expect(used).toEqual([1002n, 1002n, 1002n]);
  });

  it('traps at zero and leaves -1 as the marker', async () => {
    const { e, fuel } = instantiate(await buildCoreModule('limits'));
    fuel.value = 500n;
    expect(() => (e['count'] as (n: number) => number)(10_000)).toThrow(WebAssembly.RuntimeError);
    expect(fuel.value).toBe(-1n);
    fuel.value = 1000n;
    expect(() => (e['spin'] as () => number)()).toThrow(WebAssembly.RuntimeError);
    expect(fuel.value).toBe(-1n);
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
