import { CID } from 'multiformats/cid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentNotFoundError } from '../../processors/content/index.ts';
import type { ExecuteResult } from '../../processors/wasm/index.ts';
import { watToWasm } from '../components/build.ts';
import { createFixture, type Fixture } from './setup.ts';

let f: Fixture;
beforeAll(async () => {
  f = await createFixture();
});
afterAll(async () => f.close());

function ok(r: ExecuteResult): unknown {
  if (!r.ok) throw new Error(`expected ok, got ${r.error.kind}: ${r.error.message}`);
  return r.value;
}
function err(r: ExecuteResult): { kind: string; message: string; path?: string } {
  if (r.ok) throw new Error(`expected an error, got ${String(r.value)}`);
  return r.error;
}

describe('calling components', () => {
  it('runs add-one by ipfs:// resource with casing fallbacks', async () => {
    const cid = await f.component('add-one');
    for (const func of ['add_one', 'add-one', 'addOne']) {
      const r = await f.executor.execute({ rsc: `ipfs://${cid.toString()}`, func, args: [1] });
      expect(ok(r)).toBe(2);
      expect(r.fuel).toBe(3n); // local.get, i32.const, i32.add
    }
    expect(ok(await f.executor.execute({ rsc: cid, func: 'add_one', args: [-5] }))).toBe(-4);
  });

  it('maps strings both ways', async () => {
    const cid = await f.component('strings');
    expect(ok(await f.executor.execute({ rsc: cid, func: 'greet', args: ['ipvm'] }))).toBe(
      'hello, ipvm',
    );
    expect(ok(await f.executor.execute({ rsc: cid, func: 'byte_length', args: ['héllo'] }))).toBe(
      6,
    );
  });

  it('transforms byte arrays, given inline or as a link to stored content', async () => {
    const cid = await f.component('bytes');
    const image = Uint8Array.from({ length: 1000 }, (_, i) => i % 256);
    const inverted = ok(
      await f.executor.execute({ rsc: cid, func: 'invert', args: [image] }),
    ) as Uint8Array;
    expect(Array.from(inverted.subarray(0, 3))).toEqual([255, 254, 253]);
    const dataCid = await f.add(image);
    const viaLink = await f.executor.execute({
      rsc: cid,
      func: 'invert',
      args: [{ '/': dataCid.toString() }],
    });
    expect(ok(viaLink)).toEqual(inverted);
    expect(ok(await f.executor.execute({ rsc: cid, func: 'sum-bytes', args: [dataCid] }))).toBe(
      image.reduce((a, b) => a + b, 0),
    );
  });

  it('maps records, options, results, variants, enums, flags, tuples and maps', async () => {
    const cid = await f.component('shapes');
    const run = (func: string, ...args: unknown[]) => f.executor.execute({ rsc: cid, func, args });
    expect(ok(await run('swap', { x: 1, y: 2 }))).toEqual({ x: 2, y: 1 });
    expect(ok(await run('safe_div', 7, 2))).toEqual([3, null]);
    expect(ok(await run('safe_div', 7, 0))).toEqual([null, 'division by zero']);
    expect(ok(await run('maybe_double', null))).toBeNull();
    expect(ok(await run('maybe_double', 21))).toBe(42);
    expect(ok(await run('area', { square: 3 }))).toBe(9);
    expect(ok(await run('area', 'none'))).toBe(0);
    expect(ok(await run('next_color', 'blue'))).toBe('red');
    expect(ok(await run('toggle', ['read']))).toEqual(['write', 'exec']);
    expect(ok(await run('swap_pair', ['a', 5]))).toEqual([5, 'a']);
    expect(ok(await run('total', { a: 1, b: 2, c: 3 }))).toBe(6);
    expect(ok(await run('add_u64', 2n ** 63n, 5))).toBe(2n ** 63n + 5n);
    expect(ok(await run('is_even', 4))).toBe(true);
    // scalar-only signatures take the direct core call: check the canonical ABI conversions
    expect(ok(await run('is_even', 3))).toBe(false);
    expect(ok(await run('echo_s8', -5))).toBe(-5);
    expect(ok(await run('add_u64', 2n ** 64n - 1n, 1))).toBe(0);
    expect(ok(await run('add_u64', 2n ** 64n - 2n, 1))).toBe(2n ** 64n - 1n);
    expect(ok(await run('scale', 1.5, 2))).toBe(3);
    expect(ok(await run('initial', 'xyz'))).toBe('x');
  });

  it('reports mapping errors with their location', async () => {
    const cid = await f.component('shapes');
    const e1 = err(await f.executor.execute({ rsc: cid, func: 'echo_s8', args: [300] }));
    expect(e1).toMatchObject({
      kind: 'mapping',
      path: 'args[0]',
      message: 'args[0]: expected s8, got 300',
    });
    const e2 = err(await f.executor.execute({ rsc: cid, func: 'swap', args: [{ x: 1, y: 'no' }] }));
    expect(e2.message).toBe('args[0].y: expected s32, got "no"');
    const e3 = err(await f.executor.execute({ rsc: cid, func: 'swap', args: [] }));
    expect(e3.kind).toBe('mapping');
  });

  it('componentizes core modules that carry component-type metadata', async () => {
    const cid = await f.embedded('strings');
    expect(ok(await f.executor.execute({ rsc: cid, func: 'greet', args: ['bob'] }))).toBe(
      'hello, bob',
    );
  });

  it('calls plain core modules with numbers', async () => {
    const cid = await f.core('add-one-core');
    expect(ok(await f.executor.execute({ rsc: cid, func: 'add-one', args: [41] }))).toBe(42);
    expect(ok(await f.executor.execute({ rsc: cid, func: 'add_u64', args: [2n ** 62n, 1] }))).toBe(
      2n ** 62n + 1n,
    );
    expect(ok(await f.executor.execute({ rsc: cid, func: 'half', args: [3] }))).toBe(1.5);
    expect(err(await f.executor.execute({ rsc: cid, func: 'add_one', args: ['x'] })).message).toBe(
      'args[0]: expected i32, got "x"',
    );
  });
});

describe('host imports', () => {
  it('offers homestar helpers (deterministic time) and wasi:logging, routed to logs', async () => {
    const cid = await f.component('host');
    const lines: unknown[] = [];
    const exec = f.newExecutor({
      logger: {
        debug: () => {},
        info: (o, m) => lines.push([o, m]),
        warn: () => {},
        error: () => {},
      },
    });
    const r = await exec.execute({ rsc: cid, func: 'run', args: [], epochMs: 1_700_000_000_123 });
    expect(ok(r)).toBe(1_700_000_000_123);
    expect(r.logs).toEqual([
      { level: 'info', context: 'print', message: 'hi from guest' },
      { level: 'info', context: 'guest', message: 'logged' },
    ]);
    expect(lines).toHaveLength(2);
    const again = await exec.execute({ rsc: cid, func: 'run', args: [] });
    expect(ok(again)).toBe(0);
  });

  it('offers a deterministic WASI subset: stdout goes to the logs', async () => {
    const cid = await f.component('wasi-stdout');
    const r = await f.executor.execute({ rsc: cid, func: 'hello', args: [] });
    expect(ok(r)).toBe(0);
    expect(r.logs).toEqual([{ level: 'info', context: 'stdout', message: 'hello stdout' }]);
  });

  it('preopens no directory for a guest that imports wasi:filesystem', async () => {
    const cid = await f.component('wasi-preopens');
    expect(ok(await f.executor.execute({ rsc: cid, func: 'count', args: [] }))).toBe(0);
  });

  it('fails with a located terminal error for an import the node does not provide', async () => {
    const cid = await f.component('unknown-import');
    const e = err(await f.executor.execute({ rsc: cid, func: 'call-frob', args: [] }));
    expect(e.kind).toBe('unknown-import');
    expect(e.message).toContain('test:unknown/thing');
    const core = await f.add(
      await watToWasm('(module (import "env" "clock" (func)) (func (export "f")))'),
    );
    const e2 = err(await f.executor.execute({ rsc: core, func: 'f', args: [] }));
    expect(e2).toMatchObject({ kind: 'unknown-import' });
    expect(e2.message).toContain('env#clock');
  });
});

describe('failures', () => {
  it('returns traps, missing exports and invalid modules as terminal results', async () => {
    const limits = await f.component('limits');
    expect(err(await f.executor.execute({ rsc: limits, func: 'boom', args: [] })).kind).toBe(
      'trap',
    );
    const missing = err(await f.executor.execute({ rsc: limits, func: 'nope', args: [] }));
    expect(missing.kind).toBe('missing-export');
    expect(missing.message).toContain('boom');
    const junk = await f.add(new TextEncoder().encode('definitely not wasm'));
    expect(err(await f.executor.execute({ rsc: junk, func: 'f', args: [] })).kind).toBe(
      'invalid-module',
    );
    expect(err(await f.executor.execute({ rsc: 'https://x', func: 'f', args: [] })).kind).toBe(
      'invalid-module',
    );
  });

  it('throws a retryable error naming the CID when the module is not stored', async () => {
    const absent = CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy');
    const e = await f.executor
      .execute({ rsc: absent, func: 'f', args: [] })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ContentNotFoundError);
    expect((e as ContentNotFoundError).retryable).toBe(true);
    expect((e as Error).message).toContain(absent.toString());
  });
});

describe('limits', () => {
  it('counts fuel deterministically, inline and in the pool alike', async () => {
    const cid = await f.component('limits');
    const inline = await f.executor.execute({ rsc: cid, func: 'count', args: [1000] });
    const again = await f.executor.execute({ rsc: cid, func: 'count', args: [1000] });
    const pooledOnly = f.newExecutor({ inlineFuel: 0 });
    const pooled = await pooledOnly.execute({ rsc: cid, func: 'count', args: [1000] });
    // 9 per iteration + 5 to leave (test/wasm/instrument.test.ts counts them)
    expect([inline.fuel, again.fuel, pooled.fuel]).toEqual([9005n, 9005n, 9005n]);
    expect(pooledOnly.stats().pooled).toBe(1);
    // larger than the inline allowance: escalates to a worker, same count rule
    const big = await f.executor.execute({ rsc: cid, func: 'count', args: [300_000] });
    expect(ok(big)).toBe(300_000);
    expect(big.fuel).toBe(2_700_005n);
  });

  it('sends a call straight to a worker when the last call of its export outgrew the inline budget', async () => {
    const cid = await f.component('limits');
    const exec = f.newExecutor({ inlineFuel: 100_000 });
    const escalated = (): number =>
      f.events.filter((e) => e.type === 'wasm:escalated' && e.cid === cid.toString()).length;
    const before = escalated();
    const count = (n: number) => exec.execute({ rsc: cid, func: 'count', args: [n] });
    // 900 005 units: over the budget, so run twice (inline until the budget ran out, then in a
    // worker) the first time, and in a worker at once the second
    for (let i = 0; i < 2; i++) expect(ok(await count(100_000))).toBe(100_000);
    expect(escalated() - before).toBe(1);
    expect(exec.stats()).toMatchObject({ inline: 0, pooled: 2 });
    // a call within the budget (in a worker, since the last one was heavy) brings them back
    for (let i = 0; i < 2; i++) expect(ok(await count(10))).toBe(10);
    expect(exec.stats()).toMatchObject({ inline: 1, pooled: 3 });
    expect(escalated() - before).toBe(1);
  });

  it('starts one worker while tasks come one at a time, more only as they overlap', async () => {
    const cid = await f.component('limits');
    const exec = f.newExecutor({ inlineFuel: 0, poolSize: 2 });
    expect(exec.stats().workers).toBe(0);
    for (let i = 0; i < 3; i++) await exec.execute({ rsc: cid, func: 'count', args: [10] });
    expect(exec.stats().workers).toBe(1);
    const long = () => exec.execute({ rsc: cid, func: 'count', args: [20_000_000] });
    expect((await Promise.all([long(), long()])).map(ok)).toEqual([20_000_000, 20_000_000]);
    expect(exec.stats().workers).toBe(2);
  });

  it('stops a task that runs out of fuel', async () => {
    const cid = await f.component('limits');
    const r = await f.executor.execute({
      rsc: cid,
      func: 'spin',
      args: [],
      limits: { fuel: 2_000_000 },
    });
    expect(err(r).kind).toBe('fuel');
    expect(r.fuel).toBe(2_000_000n);
    const small = await f.executor.execute({
      rsc: cid,
      func: 'count',
      args: [100],
      limits: { fuel: 50 },
    });
    expect(err(small).message).toContain('fuel limit exceeded');
    // count(1000) costs 9005 units: exactly enough runs, one unit less is a fuel failure
    const exact = await f.executor.execute({
      rsc: cid,
      func: 'count',
      args: [1000],
      limits: { fuel: 9005 },
    });
    expect([ok(exact), exact.fuel]).toEqual([1000, 9005n]);
    const short = await f.executor.execute({
      rsc: cid,
      func: 'count',
      args: [1000],
      limits: { fuel: 9004 },
    });
    expect([err(short).kind, short.fuel]).toEqual(['fuel', 9004n]);
  });

  it('enforces the memory limit', async () => {
    const cid = await f.component('limits');
    const r = await f.executor.execute({
      rsc: cid,
      func: 'hog',
      args: [],
      limits: { memoryBytes: 2 * 1024 * 1024 },
    });
    expect(err(r)).toMatchObject({ kind: 'memory' });
    const big = await f.executor.execute({
      rsc: cid,
      func: 'hog',
      args: [],
      limits: { memoryBytes: 128 * 1024 * 1024, fuel: 10_000_000 },
    });
    expect(err(big).kind).toBe('memory');
    const tiny = await f.executor.execute({
      rsc: cid,
      func: 'count',
      args: [1],
      limits: { memoryBytes: 1000 },
    });
    expect(err(tiny).message).toContain('memory limit exceeded');
  });

  it('hard-stops a task at its time limit by terminating its worker; the pool keeps serving', async () => {
    const cid = await f.component('limits');
    const add = await f.component('add-one');
    const exec = f.newExecutor({ inlineFuel: 0, poolSize: 1 });
    const t = performance.now();
    const r = await exec.execute({ rsc: cid, func: 'spin', args: [], limits: { timeMs: 150 } });
    expect(err(r)).toMatchObject({ kind: 'time', message: 'time limit exceeded: 150 ms' });
    expect(performance.now() - t).toBeLessThan(5000);
    expect(exec.stats().terminations).toBe(1);
    expect(ok(await exec.execute({ rsc: add, func: 'add_one', args: [1] }))).toBe(2);
    const spins = [1, 2].map(() =>
      exec.execute({ rsc: cid, func: 'spin', args: [], limits: { timeMs: 100 } }),
    );
    const after = exec.execute({ rsc: add, func: 'add_one', args: [2] });
    expect((await Promise.all(spins)).map((x) => !x.ok && x.error.kind)).toEqual(['time', 'time']);
    expect(ok(await after)).toBe(3);
  });

  it('stops a task when the caller aborts', async () => {
    const cid = await f.component('limits');
    const exec = f.newExecutor({ inlineFuel: 0 });
    const ac = new AbortController();
    const p = exec.execute({ rsc: cid, func: 'spin', args: [] }, { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop')), 50);
    await expect(p).rejects.toThrow('stop');
  });
});

describe('instance reuse', () => {
  it("starts every task from the module's initial state", async () => {
    const cid = await f.add(
      await watToWasm(`(module
        (memory 1)
        (global $g (mut i32) (i32.const 0))
        (func (export "tick") (result i32)
          (global.set $g (i32.add (global.get $g) (i32.const 1)))
          (global.get $g))
        (func (export "bump") (result i32)
          (i32.store (i32.const 8) (i32.add (i32.load (i32.const 8)) (i32.const 1)))
          (i32.load (i32.const 8)))
        (func (export "grow") (result i32)
          (drop (memory.grow (i32.const 1)))
          (i32.store (i32.const 70000) (i32.add (i32.load (i32.const 70000)) (i32.const 1)))
          (i32.add (memory.size) (i32.load (i32.const 70000)))))`),
    );
    for (const func of ['tick', 'bump', 'grow', 'tick', 'bump', 'grow']) {
      const want = func === 'grow' ? 3 : 1;
      expect(ok(await f.executor.execute({ rsc: cid, func, args: [] }))).toBe(want);
    }
    const strings = await f.component('strings');
    const first = await f.executor.execute({ rsc: strings, func: 'greet', args: ['a'] });
    for (let i = 0; i < 3; i++) {
      const again = await f.executor.execute({ rsc: strings, func: 'greet', args: ['a'] });
      expect([again.fuel, ok(again)]).toEqual([first.fuel, 'hello, a']);
    }
  });
});

describe('caching', () => {
  it('transpiles and compiles once per module CID and process, and reuses the disk cache', async () => {
    const cid = await f.component('strings');
    // the glue path (strings are glue-free otherwise)
    const exec = f.newExecutor({ cacheDir: `${f.dir}/cache-a`, glueFree: false });
    for (let i = 0; i < 5; i++) await exec.execute({ rsc: cid, func: 'greet', args: [`n${i}`] });
    const s = exec.stats();
    expect(s.transpilations).toBe(1);
    expect(s.instrumentations).toBe(1);
    expect(s.compilations).toBe(1);
    await Promise.all([1, 2, 3].map(() => exec.execute({ rsc: cid, func: 'greet', args: ['x'] })));
    expect(exec.stats().compilations).toBe(1);

    // a new process (new executor) over the same cache dir: no jco, no instrumentation
    const restarted = f.newExecutor({ cacheDir: `${f.dir}/cache-a`, glueFree: false });
    expect(ok(await restarted.execute({ rsc: cid, func: 'greet', args: ['again'] }))).toBe(
      'hello, again',
    );
    expect(restarted.stats()).toMatchObject({
      transpilations: 0,
      instrumentations: 0,
      compilations: 1,
    });
  });

  it('keeps at most maxModules compiled modules, reloading others from the disk cache', async () => {
    const a = await f.component('add-one');
    const b = await f.core('add-one-core');
    const exec = f.newExecutor({ cacheDir: `${f.dir}/cache-c`, maxModules: 1 });
    for (const rsc of [a, b, a])
      expect(ok(await exec.execute({ rsc, func: 'add_one', args: [1] }))).toBe(2);
    // add-one is glue-free: never transpiled
    expect(exec.stats()).toMatchObject({ transpilations: 0, instrumentations: 2, compilations: 3 });
  });

  it('rebuilds a damaged disk cache entry', async () => {
    const cid = await f.component('add-one');
    const cacheDir = `${f.dir}/cache-damaged`;
    const cold = f.newExecutor({ cacheDir });
    expect(ok(await cold.execute({ rsc: cid, func: 'add_one', args: [1] }))).toBe(2);
    await cold.close(); // the cache entry is written in the background
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${cacheDir}/${cid.toString()}/module.wasm`, 'garbage');
    const fresh = f.newExecutor({ cacheDir });
    expect(ok(await fresh.execute({ rsc: cid, func: 'add_one', args: [1] }))).toBe(2);
    expect(fresh.stats().instrumentations).toBe(1);
  });

  it('ships compiled modules to workers instead of compiling there', async () => {
    const cid = await f.component('add-one');
    const exec = f.newExecutor({ inlineFuel: 0, cacheDir: `${f.dir}/cache-b` });
    for (let i = 0; i < 4; i++)
      expect(ok(await exec.execute({ rsc: cid, func: 'add_one', args: [i] }))).toBe(i + 1);
    expect(exec.stats()).toMatchObject({ compilations: 1, pooled: 4 });
  });
});
