// Executing Wasm by CID: warm and cold tasks, glue overhead, fuel overhead, inline vs pool.
//
//   node bench/wasm-execute.bench.ts [--n 5000]
//
// Figures, each beside a raw baseline measured in the same run:
// - warm trivial task p50 (add-one component, instantiate + marshal + call + encode) — budget ≤ 40 µs;
//   the same task on a plain core module; raw `new WebAssembly.Instance` + call as the floor;
// - the same warm task forced through the worker pool (the inline-vs-pool choice);
// - cold task on a 1 MB core module never seen before (content read, instrument, compile,
//   instantiate, call) — budget ≤ 5 ms; raw `new WebAssembly.Module` of the same bytes as floor;
//   a cold tiny component, glue-free and through jco (transpile), for reference;
// - per-call overhead of jco's generated glue vs a direct core export call;
// - fuel instrumentation overhead on a tight loop and per call of add_one (instrumented vs
//   original module).
// The machine is shared (2 cores): the load average is printed with the figures.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createHeliaContentStore } from '../processors/content/index.ts';
import { createExecutor, type Executor } from '../processors/wasm/index.ts';
import { FUEL_EXPORT, instrumentCore } from '../processors/wasm/instrument.ts';
import { buildComponent, buildCoreModule } from '../test/components/build.ts';

const nArg = process.argv.indexOf('--n');
const N = nArg > 0 ? Number(process.argv[nArg + 1]) : 5000;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]!;
};
const us = (ms: number): string => `${(ms * 1000).toFixed(1)} µs`;
const line = (label: string, value: string, extra = ''): void =>
  console.log(`${label.padEnd(58)} ${value.padStart(12)}  ${extra}`);

async function timeTasks(
  exec: Executor,
  req: Parameters<Executor['execute']>[0],
  n: number,
): Promise<number[]> {
  for (let i = 0; i < Math.min(200, n); i++) await exec.execute(req);
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = await exec.execute(req);
    ts.push(performance.now() - t);
    if (!r.ok) throw new Error(r.error.message);
  }
  return ts;
}

/** A core module of about `size` bytes: many functions of constant arithmetic, one loop each. */
function bigModule(size: number, seed: number): Uint8Array {
  const funcs = Math.ceil(size / 1024);
  const out: number[] = [];
  const leb = (v: number, to: number[] = out): number[] => {
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v) b |= 0x80;
      to.push(b);
    } while (v);
    return to;
  };
  const sleb = (v: number, to: number[]): void => {
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) {
        to.push(b);
        return;
      }
      to.push(b | 0x80);
    }
  };
  const section = (id: number, body: number[]): void => {
    out.push(id);
    leb(body.length);
    for (const b of body) out.push(b);
  };
  out.push(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);
  section(1, [1, 0x60, 0, 1, 0x7f]);
  const fsec = leb(funcs, []);
  for (let f = 0; f < funcs; f++) fsec.push(0);
  section(3, fsec);
  section(5, [1, 0, 1]);
  section(7, [1, 3, 0x72, 0x75, 0x6e, 0, 0]); // export "run" = func 0
  const code = leb(funcs, []);
  for (let f = 0; f < funcs; f++) {
    const body: number[] = [0x00, 0x41]; // no locals; i32.const seed
    sleb(seed, body);
    body.push(0x03, 0x40, 0x0b); // an empty loop: one loop header per function
    while (body.length < 1000) {
      body.push(0x41); // i32.const …; i32.add
      sleb((f * 7919 + body.length) | 0, body);
      body.push(0x6a);
    }
    body.push(0x0b);
    leb(body.length, code);
    for (const b of body) code.push(b);
  }
  section(10, code);
  return Uint8Array.from(out);
}

const dir = mkdtempSync(join(tmpdir(), 'ipvm-bench-wasm-'));
try {
  const content = await createHeliaContentStore({ dataDir: join(dir, 'data') });
  const addOne = await content.add(await buildComponent('add-one'));
  const addOneCore = await content.add(await buildCoreModule('add-one-core'));
  const limitsCid = await content.add(await buildComponent('limits'));
  const exec = createExecutor({ content, cacheDir: join(dir, 'cache'), poolSize: 2 });
  const pooled = createExecutor({
    content,
    cacheDir: join(dir, 'cache'),
    poolSize: 2,
    inlineFuel: 0,
  });

  console.log(
    `wasm-execute bench, n=${N}, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );

  // raw floor: instantiate the original add-one core module and call it
  const rawModule = new WebAssembly.Module(await buildCoreModule('add-one-core'));
  const rawTs: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    const inst = new WebAssembly.Instance(rawModule, {});
    (inst.exports['add_one'] as (x: number) => number)(i);
    rawTs.push(performance.now() - t);
  }
  line('raw: new WebAssembly.Instance + call, p50', us(pct(rawTs, 50)));

  const warm = await timeTasks(exec, { rsc: addOne, func: 'add_one', args: [1] }, N);
  line(
    'warm trivial task, component add-one, p50 (budget 40 µs)',
    us(pct(warm, 50)),
    `p99 ${us(pct(warm, 99))}`,
  );
  const warmCore = await timeTasks(exec, { rsc: addOneCore, func: 'add_one', args: [1] }, N);
  line(
    'warm trivial task, plain core module, p50',
    us(pct(warmCore, 50)),
    `p99 ${us(pct(warmCore, 99))}`,
  );
  const warmPool = await timeTasks(
    pooled,
    { rsc: addOne, func: 'add_one', args: [1] },
    Math.min(N, 2000),
  );
  line(
    'warm trivial task forced through the worker pool, p50',
    us(pct(warmPool, 50)),
    `p99 ${us(pct(warmPool, 99))}`,
  );
  // throughput with 64 in flight
  for (const [label, e] of [
    ['inline', exec],
    ['pool', pooled],
  ] as const) {
    const total = Math.min(N, 4000);
    const t = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next++ < total) await e.execute({ rsc: addOne, func: 'add_one', args: [1] });
      }),
    );
    line(
      `throughput, 64 in flight, ${label}`,
      `${Math.round(total / ((performance.now() - t) / 1000))} /s`,
    );
  }

  // cold: a 1 MB core module never seen before (fresh CID each round). The node is warmed first
  // with a few other new modules (untimed), as a running node's code is; each round reports
  // content read, instrumentation and compile separately.
  const stages: Record<string, number> = {};
  const coldExec = createExecutor({
    content,
    cacheDir: join(dir, 'cache-1m'),
    poolSize: 1,
    onProgress: (e) => {
      if (e.type === 'wasm:instrumented') stages['instrument'] = e.ms;
    },
  });
  // All modules are generated and stored before anything is timed (their garbage would
  // otherwise be collected inside the timed calls).
  const warmCids = [];
  for (let i = 0; i < 5; i++) warmCids.push(await content.add(bigModule(1024 * 1024, 500 + i)));
  const coldCids = [];
  const others: Uint8Array[] = [];
  let size = 0;
  for (let i = 0; i < 10; i++) {
    const bytes = bigModule(1024 * 1024, 1000 + i);
    size = bytes.length;
    coldCids.push(await content.add(bytes));
    others.push(bigModule(1024 * 1024, 2000 + i));
  }
  for (const cid of warmCids) {
    const r = await coldExec.execute({
      rsc: cid,
      func: 'run',
      args: [],
    });
    if (!r.ok) throw new Error(r.error.message);
  }
  const coldTs: number[] = [];
  const readTs: number[] = [];
  const instrumentTs: number[] = [];
  const rawCompile: number[] = [];
  for (let i = 0; i < 10; i++) {
    const cid = coldCids[i]!;
    const t0 = performance.now();
    new WebAssembly.Module(others[i]!);
    rawCompile.push(performance.now() - t0);
    const t = performance.now();
    const r = await coldExec.execute({ rsc: cid, func: 'run', args: [] });
    coldTs.push(performance.now() - t);
    instrumentTs.push(stages['instrument'] ?? NaN);
    if (!r.ok) throw new Error(r.error.message);
    const tr = performance.now();
    await content.get(cid);
    readTs.push(performance.now() - tr);
  }
  await coldExec.close();
  line(
    `raw: new WebAssembly.Module of ${(size / 1048576).toFixed(2)} MB never seen, p50`,
    `${pct(rawCompile, 50).toFixed(2)} ms`,
  );
  line(
    'cold task, 1 MB core module never seen, p50 (budget 5 ms)',
    `${pct(coldTs, 50).toFixed(2)} ms`,
    `min ${Math.min(...coldTs).toFixed(2)} ms`,
  );
  line('  of which instrumenting, p50', `${pct(instrumentTs, 50).toFixed(2)} ms`);
  line(
    '  reading 1 MB from the content store (again, warm), p50',
    `${pct(readTs, 50).toFixed(2)} ms`,
  );
  const bytes1m = bigModule(1024 * 1024, 7);
  for (let i = 0; i < 20; i++) instrumentCore(bytes1m);
  const ti = performance.now();
  for (let i = 0; i < 10; i++) instrumentCore(bytes1m);
  line(
    '  instrumenting 1 MB in a loop (JIT fully warm)',
    `${((performance.now() - ti) / 10).toFixed(2)} ms`,
  );
  const glueFree = createExecutor({ content, cacheDir: join(dir, 'cache-free'), poolSize: 1 });
  const tf = performance.now();
  await glueFree.execute({ rsc: addOne, func: 'add_one', args: [1] });
  line(
    'cold task, tiny component (glue-free: read in-house, no jco)',
    `${(performance.now() - tf).toFixed(1)} ms`,
  );
  await glueFree.close();
  const coldComponent = createExecutor({
    content,
    cacheDir: join(dir, 'cache-cold'),
    poolSize: 1,
    glueFree: false,
  });
  const tc = performance.now();
  await coldComponent.execute({ rsc: addOne, func: 'add_one', args: [1] });
  line(
    'cold task, tiny component (jco transpile + glue import)',
    `${(performance.now() - tc).toFixed(1)} ms`,
  );
  await coldComponent.close();

  // per-call overhead of jco's glue: call the cached glue's export vs the core export directly
  const cacheDir = join(dir, 'cache-cold', addOne.toString());
  const meta = JSON.parse(readFileSync(join(cacheDir, 'meta.json'), 'utf8')) as { files: string[] };
  const glue = (await import(pathToFileURL(join(cacheDir, 'glue.mjs')).href)) as {
    instantiate: (
      g: (n: string) => WebAssembly.Module,
      i: object,
      c: (m: WebAssembly.Module, i: WebAssembly.Imports) => WebAssembly.Instance,
    ) => Promise<Record<string, (x: number) => number>>;
  };
  const mods = Object.fromEntries(
    meta.files.map((f) => [f, new WebAssembly.Module(readFileSync(join(cacheDir, f)))]),
  );
  let coreExports: WebAssembly.Exports = {};
  const root = await glue.instantiate(
    (n) => mods[n]!,
    {},
    (m, imp) => {
      const inst = new WebAssembly.Instance(m, {
        ...imp,
        ipvm: { memory: new WebAssembly.Memory({ initial: 1 }) },
      });
      (inst.exports[FUEL_EXPORT] as WebAssembly.Global).value = 2n ** 62n;
      coreExports = inst.exports;
      return inst;
    },
  );
  const calls = 200_000;
  const viaGlue = root['addOne']!;
  let t = performance.now();
  for (let i = 0; i < calls; i++) viaGlue(i);
  const glueNs = ((performance.now() - t) * 1e6) / calls;
  const direct = coreExports['add-one'] as (x: number) => number;
  t = performance.now();
  for (let i = 0; i < calls; i++) direct(i);
  const directNs = ((performance.now() - t) * 1e6) / calls;
  line(
    'per call through jco glue',
    `${glueNs.toFixed(0)} ns`,
    `direct core export call ${directNs.toFixed(1)} ns`,
  );

  // fuel overhead: count(10^7) on the original vs the instrumented limits module
  const limitsCore = await buildCoreModule('limits');
  const plain = new WebAssembly.Instance(new WebAssembly.Module(limitsCore), {}).exports;
  const { bytes: inst, report } = instrumentCore(limitsCore);
  const metered = new WebAssembly.Instance(new WebAssembly.Module(inst), {
    ipvm: { memory: new WebAssembly.Memory({ initial: report.memory!.initialPages }) },
  }).exports;
  (metered[FUEL_EXPORT] as WebAssembly.Global).value = 2n ** 62n;
  const loop = 20_000_000;
  const best = (f: () => void): number => {
    let b = Infinity;
    for (let r = 0; r < 5; r++) {
      const s = performance.now();
      f();
      b = Math.min(b, performance.now() - s);
    }
    return b;
  };
  const plainMs = best(() => (plain['count'] as (n: number) => number)(loop));
  const meteredMs = best(() => (metered['count'] as (n: number) => number)(loop));
  line(
    `fuel overhead, tight loop of ${loop / 1e6}M iterations`,
    `${(meteredMs / plainMs).toFixed(2)}×`,
    `${meteredMs.toFixed(1)} ms vs ${plainMs.toFixed(1)} ms uninstrumented`,
  );
  // fuel cost per call: add_one (3 units) on the original vs the instrumented core module
  const addCore = await buildCoreModule('add-one-core');
  const addPlain = new WebAssembly.Instance(new WebAssembly.Module(addCore), {}).exports;
  const addInst = instrumentCore(addCore);
  const addMetered = new WebAssembly.Instance(new WebAssembly.Module(addInst.bytes), {
    ipvm: { memory: new WebAssembly.Memory({ initial: addInst.report.memory!.initialPages }) },
  }).exports;
  (addMetered[FUEL_EXPORT] as WebAssembly.Global).value = 2n ** 62n;
  const perCall = (f: (x: number) => number): number => {
    const n = 10_000_000;
    let acc = 0;
    const ms = best(() => {
      for (let i = 0; i < n; i++) acc = f(acc);
    });
    return (ms * 1e6) / n;
  };
  const plainCallNs = perCall(addPlain['add_one'] as (x: number) => number);
  const meteredCallNs = perCall(addMetered['add_one'] as (x: number) => number);
  line(
    'fuel cost per call, add_one (3 units)',
    `${meteredCallNs.toFixed(1)} ns`,
    `uninstrumented ${plainCallNs.toFixed(1)} ns (${(meteredCallNs / plainCallNs).toFixed(2)}×)`,
  );
  const taskLoop = await exec.execute({ rsc: limitsCid, func: 'count', args: [loop] });
  line(
    '  same loop as a task (escalated to a worker)',
    `${taskLoop.durationMs.toFixed(1)} ms`,
    `fuel ${taskLoop.fuel}`,
  );

  await exec.close();
  await pooled.close();
  await content.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
