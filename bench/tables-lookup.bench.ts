// Reverse lookup and batched memo lookup on 1 M receipts, embedded ClickHouse (chdb).
//
//   node bench/tables-lookup.bench.ts [--receipts 1000000] [--queries 200] [--clickhouse-url URL]
//
// With --clickhouse-url the same figures are taken on a server (database `bench_lookup`, dropped
// and recreated) instead of the embedded engine.
// Loads N receipts (each reading its module, one data block of 100 000 and the previous
// instruction's output, so ~3 lineage rows per receipt) into a temp data dir, then measures:
// - reverse lookup p50: "everything computed from input X" (the documented query, with FINAL,
//   and the same without FINAL), X a random data block (~N/100 000 consumers each)
//   — budget ≤ 3 ms;
// - memo lookup of 1 000 random instruction CIDs in one `IN (…)` query — budget ≤ 50 ms;
// beside raw chdb figures from the same run: `SELECT 1` round trip, a one-key memo lookup, and
// the raw insert rate of pre-serialised JSONEachRow.
// The machine is shared: the load average is printed beside the figures.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { COMPUTED_FROM_INPUT, withCid } from '../schemas/clickhouse/queries.ts';
import { createChdbTableStore } from '../processors/tables/chdb.ts';
import { createServerTableStore } from '../processors/tables/server.ts';
import { cidToString } from '../processors/tables/rows.ts';
import type { LineageRow, ReceiptRow } from '../processors/tables/table-store.ts';

const arg = (name: string, d: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const N = arg('receipts', 1_000_000);
const QUERIES = arg('queries', 200);
const DATA_BLOCKS = 100_000;
const CHUNK = 100_000;

/** A deterministic, distinct CID per (kind, i) — cheap to make, shaped like the real ones. */
function fakeCid(kind: number, i: number): string {
  const digest = new Uint8Array(32);
  const view = new DataView(digest.buffer);
  view.setUint32(0, kind);
  view.setUint32(4, i);
  view.setUint32(28, Math.imul(i + 1, 2654435761) ^ kind);
  return cidToString(CID.createV1(0x71, Digest.create(0x16, digest)));
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};
const fmt = (ms: number): string => `${ms.toFixed(2)} ms`;

async function timed<T>(f: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const r = await f();
  return [performance.now() - t, r];
}

const dir = mkdtempSync(join(tmpdir(), 'ipvm-bench-tables-'));
const urlAt = process.argv.indexOf('--clickhouse-url');
const url = urlAt > 0 ? process.argv[urlAt + 1] : undefined;
const store =
  url === undefined
    ? createChdbTableStore({ dataDir: dir, database: 'bench' })
    : createServerTableStore({ url, database: 'bench_lookup' });
const engine = url === undefined ? 'chdb' : `server ${url}`;
try {
  await store.dropTables();
  await store.migrate();
  const [version] = await store.query<{ v: string }>('SELECT version() AS v');
  const modules = Array.from({ length: 100 }, (_, i) => fakeCid(1, i));
  const blocks = Array.from({ length: Math.min(N, DATA_BLOCKS) }, (_, i) => fakeCid(7, i));
  const instructions: string[] = [];

  console.log(`loading ${N.toLocaleString()} receipts (load average ${loadavg()[0]?.toFixed(1)})…`);
  const loadStart = performance.now();
  let prev = '';
  let insertMs = 0;
  for (let base = 0; base < N; base += CHUNK) {
    const receipts: ReceiptRow[] = [];
    const lineage: LineageRow[] = [];
    for (let i = base; i < Math.min(N, base + CHUNK); i++) {
      const instruction = fakeCid(2, i);
      // Only lookup keys must parse as CIDs; other columns get cheap look-alikes.
      const receipt = `bafyrmr${instruction.slice(7)}`;
      const output = `bafyrmo${instruction.slice(7)}`;
      const fn = `f${i % 50}`;
      instructions.push(instruction);
      receipts.push({
        instruction_cid: instruction,
        receipt_cid: receipt,
        invocation_cid: `bafyrmv${instruction.slice(7)}`,
        workflow_cid: `bafyrmw${Math.floor(i / 10)}`,
        op: 'wasm/run',
        function: fn,
        resource_cid: modules[i % 100]!,
        outcome: i % 97 === 0 ? 'error' : 'ok',
        output: String(i * 2),
        output_cid: output,
        fuel: 1000 + (i % 1000),
        duration_ms: 0.1 + (i % 13),
        executor: `node-${i % 3}`,
        at_ms: 1_700_000_000_000 + i,
        replayed: i % 5 === 0 ? 1 : 0,
      });
      const common = { instruction_cid: instruction, receipt_cid: receipt, output_cid: output };
      const o = { function: fn, outcome: 'ok' as const };
      lineage.push({
        input_cid: modules[i % 100]!,
        role: 'resource',
        path: 'rsc',
        ...common,
        ...o,
      });
      lineage.push({
        input_cid: blocks[i % blocks.length]!,
        role: 'arg',
        path: 'args/0',
        ...common,
        ...o,
      });
      if (prev !== '') {
        lineage.push({ input_cid: prev, role: 'arg', path: 'args/1/await/ok', ...common, ...o });
      }
      prev = instruction;
    }
    const [ms] = await timed(() =>
      Promise.all([store.insertReceipts(receipts), store.insertLineage(lineage)]),
    );
    insertMs += ms;
  }
  const [lineageCount] = await store.query<{ n: number }>('SELECT count() AS n FROM lineage');
  console.log(
    `loaded in ${((performance.now() - loadStart) / 1000).toFixed(1)} s ` +
      `(insert ${(insertMs / 1000).toFixed(1)} s = ${Math.round((N * 1000) / insertMs).toLocaleString()} receipts/s ` +
      `with ${lineageCount?.n.toLocaleString()} lineage rows)`,
  );
  // Let background merges settle so both rounds see the same parts.
  await store.query(`OPTIMIZE TABLE ${store.database}.lineage FINAL`);
  await store.query(`OPTIMIZE TABLE ${store.database}.receipts FINAL`);

  // --- raw baseline
  const select1: number[] = [];
  for (let i = 0; i < QUERIES; i++) select1.push((await timed(() => store.query('SELECT 1')))[0]);
  const oneKey: number[] = [];
  for (let i = 0; i < QUERIES; i++) {
    const cid = instructions[(i * 7919) % N]!;
    oneKey.push((await timed(() => store.lookupMemo([cid])))[0]);
  }

  // --- reverse lookup
  const reverseFinal: number[] = [];
  const reversePlain: number[] = [];
  let rowsPer = 0;
  const plain = COMPUTED_FROM_INPUT.replace('FROM lineage FINAL', 'FROM lineage');
  for (let i = 0; i < QUERIES; i++) {
    const input = blocks[(i * 104729) % blocks.length]!;
    const [ms, rows] = await timed(() => store.query(withCid(COMPUTED_FROM_INPUT, input)));
    reverseFinal.push(ms);
    rowsPer = rows.length;
    reversePlain.push((await timed(() => store.query(withCid(plain, input))))[0]);
  }

  // --- batched memo lookup
  const batch: number[] = [];
  let found = 0;
  for (let r = 0; r < 30; r++) {
    const keys = Array.from({ length: 1000 }, (_, k) => instructions[(r * 1000 + k * 997) % N]!);
    const [ms, hits] = await timed(() => store.lookupMemo(keys));
    batch.push(ms);
    found = hits.length;
  }

  const line = (name: string, xs: number[], budget?: string): void =>
    console.log(
      `${name.padEnd(44)} p50 ${fmt(quantile(xs, 0.5)).padStart(10)}  p99 ${fmt(quantile(xs, 0.99)).padStart(10)}${budget ? `   budget ${budget}` : ''}`,
    );
  console.log(
    `\n${engine} (ClickHouse ${version?.v}), ${N.toLocaleString()} receipts, load average ${loadavg()[0]?.toFixed(1)}`,
  );
  line('raw: SELECT 1', select1);
  line('raw: memo lookup, 1 key', oneKey);
  line(`reverse lookup (${rowsPer} rows, FINAL)`, reverseFinal, '≤ 3 ms');
  line(`reverse lookup (${rowsPer} rows, no FINAL)`, reversePlain);
  line(`memo lookup, 1 000 keys in one IN (found ${found})`, batch, '≤ 50 ms');
  console.log(
    `per key in the batch: ${(quantile(batch, 0.5) / 1000).toFixed(3)} ms vs ${fmt(quantile(oneKey, 0.5))} one by one`,
  );
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
