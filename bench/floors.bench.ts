// Physical floors on this machine, measured in the same run as the peer comparisons: what no
// node, ours or a peer, can beat here.
//
//   node bench/floors.bench.ts [--seconds 1]
//
// - fsync: one durable 256-byte append (write + fdatasync) in the temp dir, p50 / p99 — the
//   floor of any durable step that waits for its own commit; the same synced on the thread pool
//   as the file log does — the floor of a memo hit, whose one group commit syncs one file (its
//   submission, replayed receipt and end, all on `invocations`); and two such appends to two
//   files at once — a commit that touches two streams (a single-step workflow's receipt and end);
// - sha3-256 + DAG-CBOR CIDs/s of a Homestar-shaped instruction (node:crypto digest, the
//   schemas' encoder) — the floor of content addressing every task;
// - V8 Wasm: compiling the example component's core module, and instantiating a compiled module
//   (µs each), plus one call of its `add-one` export (ns).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cidOfBytes } from '../schemas/cid.ts';
import { dagCbor } from '../schemas/codecs.ts';
import { watToWasm } from '../test/components/build.ts';
import { arg, ms, pct, printTable, rate, writeResults, type Row } from './lib/report.ts';
import { durableAppends, poolCommits } from './lib/disk.ts';

const SECONDS = Number(arg('seconds', '1'));
const TITLE = 'physical floors on this machine';

/** Runs `fn` repeatedly for about `seconds`; returns operations per second. */
function perSecond(seconds: number, fn: (i: number) => void): number {
  let n = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  while (performance.now() < end) for (let k = 0; k < 100; k++) fn(n++);
  return n / ((performance.now() - t0) / 1000);
}

export async function measureFloors(seconds: number): Promise<Row[]> {
  const rows: Row[] = [];
  const root = mkdtempSync(join(tmpdir(), 'ipvm-bench-floors-'));
  try {
    const latencyRow = (scenario: string, lat: number[], what: string): Row => ({
      scenario,
      ours: '—',
      peer: ms(pct(lat, 50)),
      ratio: '',
      note: `p99 ${ms(pct(lat, 99))}; ${lat.length} ${what}`,
    });
    rows.push(
      latencyRow(
        'durable 256-byte append (write + fdatasync), p50',
        await durableAppends(root, { min: 50, seconds }),
        'appends',
      ),
      latencyRow(
        "the same synced on the thread pool (a memo hit's commit), p50",
        await poolCommits(root, 1, { min: 50, seconds }),
        'appends',
      ),
      latencyRow(
        'the same on two files at once (a receipt and an end), p50',
        await poolCommits(root, 2, { min: 50, seconds }),
        'pairs',
      ),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }

  const rsc = 'ipfs://bafkreigc4g7ygs4m7ojs3dkqt64rjmyrdpglyo36ltd6462pf4pytn4weu';
  let sink = 0;
  const cids = perSecond(seconds, (i) => {
    const bytes = dagCbor.encode({
      rsc,
      op: 'wasm/run',
      input: { func: 'add_one', args: [i] },
      nnc: '',
    });
    sink += cidOfBytes(bytes).bytes[5]!;
  });
  rows.push({
    scenario: 'sha3-256 + DAG-CBOR instruction CIDs, one core',
    ours: '—',
    peer: rate(cids, '/s'),
    ratio: '',
    note: `sink ${sink % 10}`,
  });

  const examples = join(import.meta.dirname, '..', 'examples', 'wasm');
  const core = await watToWasm(readFileSync(join(examples, 'add-one.wat'), 'utf8'), 'add-one.wat');
  const compiles: number[] = [];
  let module!: WebAssembly.Module;
  for (let i = 0; i < 50; i++) {
    const t = performance.now();
    module = await WebAssembly.compile(core);
    compiles.push(performance.now() - t);
  }
  rows.push({
    scenario: `V8 compile of the example core module (${core.length} B), p50`,
    ours: '—',
    peer: ms(pct(compiles, 50)),
    ratio: '',
  });
  const inst: number[] = [];
  let instance!: WebAssembly.Instance;
  for (let i = 0; i < 2000; i++) {
    const t = performance.now();
    instance = new WebAssembly.Instance(module, {});
    inst.push(performance.now() - t);
  }
  rows.push({
    scenario: 'V8 instantiate of a compiled module (1 page memory), p50',
    ours: '—',
    peer: ms(pct(inst, 50)),
    ratio: '',
    note: `p99 ${ms(pct(inst, 99))}`,
  });
  const addOne = instance.exports['add-one'] as (x: number) => number;
  const calls = perSecond(seconds / 2, (i) => {
    sink += addOne(i);
  });
  rows.push({
    scenario: 'V8 call of the core `add-one` export',
    ours: '—',
    peer: `${(1e9 / calls).toFixed(0)} ns`,
    ratio: '',
    note: `sink ${sink % 10}`,
  });
  return rows;
}

if (import.meta.main) {
  const rows = await measureFloors(SECONDS);
  printTable(TITLE, 'floor', rows);
  console.log(`results: ${writeResults('floors', { title: TITLE, peer: 'floor', rows })}`);
}
