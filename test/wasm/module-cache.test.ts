// Glue-free components and the on-disk module cache: a cache hit must give the same results as
// a cold load, and a damaged or stale entry must be detected and rebuilt, never trusted.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CID } from 'multiformats/cid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ExecuteResult, Executor, ExecutorInit } from '../../processors/wasm/index.ts';
import { createNode } from '../../processors/engine/node.ts';
import { wasmRunner } from '../../processors/wasm-runner.ts';
import { createFileLog } from '../../streams/file/index.ts';
import type { IpldMap } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { readSimpleComponent } from '../../processors/wasm/component.ts';
import { buildComponent, type ComponentName } from '../components/build.ts';
import { createFixture, type Fixture } from './setup.ts';

let f: Fixture;
beforeAll(async () => {
  f = await createFixture();
});
afterAll(async () => f.close());

/** Value (or error) and fuel: what a receipt is made of. */
function outcome(r: ExecuteResult): unknown {
  return r.ok ? { value: r.value, fuel: r.fuel } : { error: r.error, fuel: r.fuel };
}

/** 100 000 bytes of a pattern: more than the components' first memory page. */
const BIG = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7) & 0xff);

const CALLS: Array<[ComponentName, string, unknown[], { memoryBytes?: number; fuel?: number }?]> = [
  ['add-one', 'add_one', [41]],
  ['add-one', 'add_one', [2 ** 31 - 1]],
  ['limits', 'count', [1000]],
  ['limits', 'boom', []],
  ['limits', 'spin', [], { fuel: 5000 }],
  ['limits', 'hog', [], { memoryBytes: 4 << 20 }],
  // strings and byte lists: copied in through cabi_realloc, out through the return area
  ['strings', 'greet', ['world']],
  ['strings', 'greet', ['']],
  ['strings', 'greet', ['héllo 🌍, \u{0}\u{10ffff}']],
  ['strings', 'byte_length', ['héllo 🌍']],
  ['bytes', 'invert', [BIG]],
  ['bytes', 'invert', [new Uint8Array(0)]],
  ['bytes', 'sum_bytes', [BIG]],
  ['bytes', 'invert', [BIG], { fuel: 5000 }],
  ['bytes', 'invert', [BIG], { memoryBytes: 64 << 10 }],
];

async function runAll(exec: Executor): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const [name, func, args, limits] of CALLS) {
    const rsc = await f.component(name);
    out.push(outcome(await exec.execute({ rsc, func, args, ...(limits ? { limits } : {}) })));
  }
  return out;
}

const entry = (cacheDir: string, cid: CID, file: string): string =>
  join(cacheDir, cid.toString(), file);

describe('glue-free components', () => {
  it('reads only components of the simple shape', async () => {
    for (const name of ['add-one', 'limits', 'strings', 'bytes'] as const) {
      const simple = readSimpleComponent(await buildComponent(name));
      expect(simple, name).toBeDefined();
      expect(simple!.world.imports).toEqual([]);
    }
    expect(readSimpleComponent(await buildComponent('add-one'))!.coreExports).toEqual({
      'add-one': { func: 'add-one' },
    });
    expect(readSimpleComponent(await buildComponent('bytes'))!.coreExports).toEqual({
      invert: {
        func: 'invert',
        memory: 'memory',
        realloc: 'cabi_realloc',
        postReturn: 'cabi_post_invert',
      },
      'sum-bytes': { func: 'sum-bytes', memory: 'memory', realloc: 'cabi_realloc' },
    });
    // records, variants, other lists, host imports, WASI: jco's job
    for (const name of ['shapes', 'host', 'wasi-stdout', 'unknown-import'] as const)
      expect(readSimpleComponent(await buildComponent(name)), name).toBeUndefined();
    expect(readSimpleComponent(new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0, 1, 9]))).toBe(
      undefined,
    );
  });

  it('gives the same values, errors and fuel as the same components through jco', async () => {
    const free = f.newExecutor({ cacheDir: `${f.dir}/gf-free` });
    const jco = f.newExecutor({ cacheDir: `${f.dir}/gf-jco`, glueFree: false });
    const a = await runAll(free);
    expect(a).toEqual(await runAll(jco));
    expect(free.stats().transpilations).toBe(0);
    expect(jco.stats().transpilations).toBe(4);
    expect(a[0]).toEqual({ value: 42, fuel: 3n });
    expect(a[1]).toEqual({ value: -(2 ** 31), fuel: 3n });
    expect((a[3] as { error: { kind: string } }).error.kind).toBe('trap');
    expect((a[4] as { error: { kind: string } }).error.kind).toBe('fuel');
    expect((a[5] as { error: { kind: string } }).error.kind).toBe('memory');
    expect(a.slice(6, 10).map((o) => (o as { value: unknown }).value)).toEqual([
      'hello, world',
      'hello, ',
      'hello, héllo 🌍, \u{0}\u{10ffff}',
      11, // UTF-8 bytes
    ]);
    expect((a[10] as { value: Uint8Array }).value).toEqual(BIG.map((b) => 255 - b));
    expect((a[11] as { value: unknown }).value).toEqual([]); // Homestar's empty list<u8>
    expect((a[12] as { value: unknown }).value).toBe(BIG.reduce((s, b) => s + b, 0));
    expect((a[13] as { error: { kind: string } }).error.kind).toBe('fuel');
    expect((a[14] as { error: { kind: string } }).error.kind).toBe('memory');
  });

  it('refuses a guest breaking the canonical ABI with a located trap', async () => {
    const exec = f.newExecutor({ cacheDir: `${f.dir}/bad-abi` });
    const rsc = await f.component('bad-abi');
    const run = async (func: string, args: unknown[]) =>
      outcome(await exec.execute({ rsc, func, args }));
    // 16 bytes from its realloc fit; 17 do not
    expect(await run('take', [new Uint8Array(16)])).toMatchObject({ value: 16 });
    expect(await run('take', [new Uint8Array(17)])).toMatchObject({
      error: {
        kind: 'trap',
        message: expect.stringMatching(/cabi_realloc returned 65520 for 17 bytes of args\[0\]/),
      },
    });
    expect(await run('give', [])).toMatchObject({
      error: { kind: 'trap', message: expect.stringMatching(/10000 bytes at 65000 run past/) },
    });
    expect(await run('tilt', [])).toMatchObject({
      error: { kind: 'trap', message: expect.stringMatching(/address 513 is unaligned/) },
    });
    expect(exec.stats().transpilations).toBe(0);
  });
});

describe('the disk cache', () => {
  it('gives identical results on a hit in a new executor, without instrumenting again', async () => {
    for (const glueFree of [true, false]) {
      const cacheDir = `${f.dir}/hit-${glueFree}`;
      const cold = f.newExecutor({ cacheDir, glueFree });
      const first = await runAll(cold);
      await cold.close(); // waits for the background cache writes
      const warm = f.newExecutor({ cacheDir, glueFree });
      expect(await runAll(warm)).toEqual(first);
      expect(warm.stats()).toMatchObject({ transpilations: 0, instrumentations: 0 });
    }
  });

  it('rejects a cached module whose bytes changed but still compile, and rebuilds it', async () => {
    const cid = await f.component('add-one');
    const cacheDir = `${f.dir}/tampered`;
    const cold = f.newExecutor({ cacheDir });
    expect(outcome(await cold.execute({ rsc: cid, func: 'add_one', args: [1] }))).toEqual({
      value: 2,
      fuel: 3n,
    });
    await cold.close();
    // `i32.const 1; i32.add` → `i32.const 2; i32.add`: a valid module computing something else
    const file = entry(cacheDir, cid, 'module.wasm');
    const bytes = readFileSync(file);
    const at = bytes.indexOf(Buffer.from([0x41, 0x01, 0x6a]));
    expect(at).toBeGreaterThan(0);
    bytes[at + 1] = 0x02;
    writeFileSync(file, bytes);
    new WebAssembly.Module(bytes); // still valid

    const before = f.events.length;
    const again = f.newExecutor({ cacheDir });
    expect(outcome(await again.execute({ rsc: cid, func: 'add_one', args: [1] }))).toEqual({
      value: 2,
      fuel: 3n,
    });
    expect(again.stats().instrumentations).toBe(1);
    expect(f.events.slice(before)).toContainEqual({
      type: 'wasm:cache-rejected',
      cid: cid.toString(),
      reason: 'module.wasm is damaged',
    });
  });

  it('rejects tampered glue before importing it', async () => {
    const cid = await f.component('strings');
    const cacheDir = `${f.dir}/glue`;
    const cold = f.newExecutor({ cacheDir, glueFree: false });
    await cold.execute({ rsc: cid, func: 'greet', args: ['a'] });
    await cold.close();
    const file = entry(cacheDir, cid, 'glue.mjs');
    writeFileSync(file, `${readFileSync(file, 'utf8')}\nglobalThis.__ipvmTampered = 1;\n`);
    const again = f.newExecutor({ cacheDir, glueFree: false });
    expect(outcome(await again.execute({ rsc: cid, func: 'greet', args: ['b'] }))).toMatchObject({
      value: 'hello, b',
    });
    expect(again.stats().transpilations).toBe(1);
    expect((globalThis as { __ipvmTampered?: number }).__ipvmTampered).toBeUndefined();
  });

  it('replaces an entry built by another jco or instrumenter version', async () => {
    const cases: Array<
      [ComponentName, string, string, unknown, 'transpilations' | 'instrumentations']
    > = [
      ['strings', 'jco', '0.0.1', 'greet', 'transpilations'],
      ['add-one', 'instrumenter', '0', 'add_one', 'instrumentations'],
    ];
    for (const [name, field, old, func, counter] of cases) {
      const cid = await f.component(name);
      const cacheDir = `${f.dir}/stale-${name}`;
      const args = name === 'strings' ? ['x'] : [1];
      // jco's version matters to glue entries only
      const glueFree = name !== 'strings';
      const cold = f.newExecutor({ cacheDir, glueFree });
      const want = outcome(await cold.execute({ rsc: cid, func: func as string, args }));
      await cold.close();
      const metaFile = entry(cacheDir, cid, 'meta.json');
      const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as Record<string, unknown>;
      const current = meta[field];
      meta[field] = field === 'instrumenter' ? Number(old) : old;
      writeFileSync(metaFile, JSON.stringify(meta));

      const again = f.newExecutor({ cacheDir, glueFree });
      expect(outcome(await again.execute({ rsc: cid, func: func as string, args }))).toEqual(want);
      expect(again.stats()[counter], name).toBe(1);
      await again.close();
      // the rebuilt entry replaced the stale one on disk
      const rebuilt = JSON.parse(readFileSync(metaFile, 'utf8')) as Record<string, unknown>;
      expect(rebuilt[field]).toEqual(current);
      const third = f.newExecutor({ cacheDir, glueFree });
      await third.execute({ rsc: cid, func: func as string, args });
      expect(third.stats()).toMatchObject({ transpilations: 0, instrumentations: 0 });
    }
  });
});

describe('receipts', () => {
  /** A 3-task add_one chain through a node over a fresh log; its receipt CIDs in task order. */
  async function receiptsOf(rsc: CID, init: Partial<ExecutorInit>, log: string): Promise<string[]> {
    const exec = f.newExecutor(init);
    const tasks: IpldMap[] = [];
    for (let i = 0; i < 3; i++) {
      const prev = tasks[i - 1];
      const arg =
        prev === undefined
          ? 7
          : { 'await/ok': parseWorkflow({ tasks: [prev] }).tasks[0]!.instruction };
      tasks.push({
        run: {
          rsc: `ipfs://${rsc.toString()}`,
          op: 'wasm/run',
          input: { func: 'add_one', args: [arg] },
          nnc: '',
        },
        cause: null,
        meta: {},
        prf: [],
      });
    }
    await using fileLog = createFileLog({ dir: join(f.dir, log), fsync: 'none' });
    await using node = await createNode({ log: fileLog, runner: wasmRunner(exec) });
    const parsed = await node.submit({ tasks });
    const end = await node.ended(parsed.cid);
    expect(end.type).toBe('workflow/completed');
    await exec.close();
    return end.receipts.map((c) => c.toString());
  }

  it('are the same from a cold load, a disk cache hit and the jco path', async () => {
    const rsc = await f.component('add-one');
    const cold = await receiptsOf(rsc, { cacheDir: `${f.dir}/r-cache` }, 'log-cold');
    expect(cold).toHaveLength(3);
    expect(await receiptsOf(rsc, { cacheDir: `${f.dir}/r-cache` }, 'log-hit')).toEqual(cold);
    expect(
      await receiptsOf(rsc, { cacheDir: `${f.dir}/r-jco`, glueFree: false }, 'log-jco'),
    ).toEqual(cold);
  });
});
