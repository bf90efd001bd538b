// Freshness of the ClickHouse tables: receipt appended to the log → visible to SQL, at a
// sustained rate (budget ≤ 2 s at 100 000 receipts/s), embedded ClickHouse (chdb).
//
//   node bench/tables-freshness.bench.ts [--rate 100000] [--seconds 3] [--batch 20000]
//                                        [--flush-ms 100] [--workers 2] [--in-flight 2] [--memory-log]
//
// A producer appends DAG-CBOR receipt events to the embedded file log (default fsync policy; or
// an in-memory log with --memory-log) at `--rate`; the live indexer
// (processors/index-tables.ts: consume → decode → rows → batched insert → commit) feeds the
// tables; every 25 ms a poller asks which of the probe records (every 500th) have become
// visible. Each event's `at` carries its sequence number, so a probe's freshness is the time
// between its append and the first poll that saw it; all probes count, also those that became
// visible after the producer stopped.
// Printed beside it, from the same run: the insert rate of one batch of the same rows straight
// into chdb (no log, no decoding), the `SELECT max(at_ms)` round trip, and the JS cost per
// record of decode + row mapping (the indexer's CPU work before the insert), and the same with
// receipt verification (signed receipts, `ucan` rules) beside a bare Ed25519 verify.
// The machine is shared: the load average is printed beside the figures.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { decodeEvent, encodeEvent, type ReceiptEvent } from '../schemas/events.ts';
import type { Instruction, Receipt } from '../schemas/types.ts';
import { createTopology } from '../streams/topology.ts';
import { indexTables, tableStreams } from '../processors/index-tables.ts';
import { createChdbTableStore } from '../processors/tables/chdb.ts';
import { mapRecords } from '../processors/tables/row-mapper.ts';
import { ed25519Verify } from '../processors/auth/ed25519.ts';
import { generateIdentity } from '../processors/auth/identity.ts';
import type { ReceiptCheck } from '../processors/auth/verify-receipt.ts';
import { encodeReceipt } from '../schemas/model.ts';
import { receiptEventToRows } from '../processors/tables/rows.ts';
import { jsonEachRow } from '../processors/tables/sql.ts';
import { createFileLog } from '../streams/file/index.ts';
import type { Log } from '../streams/log.ts';
import { createMemoryLog } from '../test/tables/memory-log.ts';

const arg = (name: string, d: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const RATE = arg('rate', 100_000);
const SECONDS = arg('seconds', 3);
const BATCH = arg('batch', 20_000);
const FLUSH_MS = arg('flush-ms', 100);
const WORKERS = arg('workers', 2);
const IN_FLIGHT = arg('in-flight', 2);
const LOG = process.argv.includes('--memory-log') ? 'memory' : 'file';
const TOTAL = Math.round(RATE * SECONDS);
const BUDGET_MS = 2000;

const fake = (kind: number, i: number): CID => {
  const d = new Uint8Array(32);
  const v = new DataView(d.buffer);
  v.setUint32(0, kind);
  v.setUint32(4, i);
  return CID.createV1(0x71, Digest.create(0x16, d));
};
const MODULE = fake(9, 0);

console.log(`generating ${TOTAL.toLocaleString()} receipt events…`);
const keys: string[] = new Array<string>(TOTAL);
const values: Uint8Array[] = new Array<Uint8Array>(TOTAL);
for (let i = 0; i < TOTAL; i++) {
  const instruction = fake(1, i);
  const invocation = fake(2, i);
  const run = {
    rsc: `ipfs://${MODULE.toString()}`,
    op: 'wasm/run',
    input: { func: `f${i % 20}`, args: [i, { 'await/ok': fake(1, i - 1) }] },
    nnc: '',
  } as unknown as Instruction;
  const body = {
    ran: invocation,
    out: ['ok', i * 2],
    meta: {},
    iss: null,
    prf: [],
  } as unknown as Receipt;
  const event: ReceiptEvent = {
    type: 'receipt',
    instruction,
    invocation,
    receipt: fake(3, i),
    workflow: null,
    run,
    body,
    replayed: i % 4 === 0,
    fuel: 1000,
    durationMs: 0.2,
    executor: 'bench',
    at: i, // the sequence number, see the header
  };
  keys[i] = instruction.toString();
  values[i] = encodeEvent(event);
}

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

const dir = mkdtempSync(join(tmpdir(), 'ipvm-bench-fresh-'));
const store = createChdbTableStore({ dataDir: dir, database: 'fresh' });
let log: Log | undefined;
try {
  await store.migrate();
  const topology = createTopology({ namespace: 'bench' });
  log = LOG === 'memory' ? createMemoryLog() : createFileLog({ dir: join(dir, 'log') });
  await log.ensureStreams(topology.streams);
  const pure = topology.name('pure');

  // --- baselines, same rows, same engine
  const sample = Math.min(BATCH, TOTAL);
  let t = performance.now();
  const decoded = values.slice(0, sample).map((v) => decodeEvent(v) as ReceiptEvent);
  const decodeUs = ((performance.now() - t) * 1000) / sample;
  t = performance.now();
  const rows = decoded.map(receiptEventToRows);
  const rowsUs = ((performance.now() - t) * 1000) / sample;
  mapRecords(values.slice(0, sample)); // warm-up
  t = performance.now();
  mapRecords(values.slice(0, sample));
  const mapperUs = ((performance.now() - t) * 1000) / sample;
  // The same receipts with their true CIDs, signed: what a verifying indexer maps.
  const signer = generateIdentity();
  const check: ReceiptCheck = { mode: 'ucan', trusted: [signer.did] };
  const vSample = Math.min(sample, 5000);
  const signedValues = decoded.slice(0, vSample).map((e) => {
    const receipt = encodeReceipt(e.body).cid;
    return encodeEvent({ ...e, receipt, iss: signer.did, sig: signer.sign(receipt.bytes) });
  });
  mapRecords(signedValues, decodeEvent, check); // warm-up
  t = performance.now();
  const verified = mapRecords(signedValues, decodeEvent, check);
  const verifyingUs = ((performance.now() - t) * 1000) / vSample;
  if (verified.counts.receipts !== vSample) throw new Error('verification refused honest receipts');
  t = performance.now();
  for (const v of signedValues) {
    const e = decodeEvent(v) as ReceiptEvent;
    ed25519Verify(e.iss!, e.receipt.bytes, e.sig!);
  }
  const bareVerifyUs = ((performance.now() - t) * 1000) / vSample - decodeUs;
  mapRecords(signedValues); // the same records through the unverified fast path
  t = performance.now();
  mapRecords(signedValues);
  const signedFastUs = ((performance.now() - t) * 1000) / vSample;
  const payloadBytes = jsonEachRow(rows.map((r) => r.receipt)).length;
  const rawInsert: number[] = [];
  for (let r = 0; r < 3; r++) {
    t = performance.now();
    // One batch through the adapter (JSONEachRow + chdb insert): the insert's share.
    await store.insertReceipts(rows.map((x) => x.receipt));
    rawInsert.push(performance.now() - t);
  }
  await store.dropTables();
  await store.migrate();
  const probe: number[] = [];
  for (let r = 0; r < 20; r++) {
    t = performance.now();
    await store.query('SELECT max(at_ms) AS m FROM receipts');
    probe.push(performance.now() - t);
  }

  // --- the run
  const appendedAt = new Float64Array(TOTAL);
  const indexer = indexTables({
    log,
    store,
    streams: tableStreams(topology),
    batchSize: BATCH,
    flushIntervalMs: FLUSH_MS,
    mapWorkers: WORKERS,
    maxBatchesInFlight: IN_FLIGHT,
  });
  const ac = new AbortController();
  const running = indexer.run({ signal: ac.signal });

  const start = performance.now();
  let sent = 0;
  const producer = (async () => {
    while (sent < TOTAL) {
      const due = Math.min(TOTAL, Math.floor(((performance.now() - start) / 1000) * RATE));
      if (due > sent) {
        const records = [];
        for (let i = sent; i < due; i++) records.push({ key: keys[i]!, value: values[i]! });
        const now = performance.now();
        for (let i = sent; i < due; i++) appendedAt[i] = now;
        await log.append(pure, records);
        sent = due;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  // Probes: every 500th record. A poll asks which unseen probes are visible now; a probe's
  // freshness is (first poll that saw it) − (its append time).
  const probes = new Set<number>();
  for (let i = 0; i < TOTAL; i += 500) probes.add(i);
  const fresh: number[] = [];
  let producerDone = 0;
  void producer.then(() => (producerDone = performance.now()));
  let visible = 0;
  while (visible < TOTAL) {
    const unseen = [...probes].filter((p) => appendedAt[p]! > 0).slice(0, 400);
    if (unseen.length > 0) {
      const seen = await store.query<{ at_ms: number }>(
        `SELECT at_ms FROM receipts WHERE at_ms IN (${unseen.join(',')})`,
      );
      const now = performance.now();
      for (const { at_ms } of seen) {
        if (probes.delete(at_ms)) fresh.push(now - appendedAt[at_ms]!);
      }
    }
    const [row] = await store.query<{ n: number }>('SELECT count() AS n FROM receipts');
    visible = row?.n ?? 0;
    if (performance.now() - start > SECONDS * 1000 + 300_000) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  const end = performance.now();
  await producer;
  ac.abort();
  await running;
  const stats = indexer.stats();

  const sustainedS = ((producerDone || end) - start) / 1000;
  console.log(
    `\nchdb, target ${RATE.toLocaleString()} receipts/s for ${SECONDS} s ` +
      `(${LOG} log, batch ${BATCH}, flush ${FLUSH_MS} ms, ${WORKERS} map workers, ${IN_FLIGHT} batches in flight), load average ${loadavg()[0]?.toFixed(1)}`,
  );
  console.log(
    `appended ${sent.toLocaleString()} in ${sustainedS.toFixed(2)} s = ${Math.round(sent / sustainedS).toLocaleString()}/s; ` +
      `all visible after ${((end - start) / 1000).toFixed(2)} s = ${Math.round(TOTAL / ((end - start) / 1000)).toLocaleString()}/s end to end; ` +
      `${stats.batches} batches, ${stats.receipts} receipt rows, ${stats.undecodable} undecodable`,
  );
  console.log(
    `freshness (append → visible): p50 ${quantile(fresh, 0.5).toFixed(0)} ms, p99 ${quantile(fresh, 0.99).toFixed(0)} ms, ` +
      `max ${Math.max(...fresh).toFixed(0)} ms (${fresh.length} probes)   budget ≤ ${BUDGET_MS} ms`,
  );
  console.log(
    `drain after the last append: ${producerDone ? (end - producerDone).toFixed(0) : 'n/a'} ms`,
  );
  console.log('raw, same run:');
  console.log(
    `  insert of one ${sample.toLocaleString()}-row batch (JSONEachRow, ${(payloadBytes / 1e6).toFixed(1)} MB): ` +
      `p50 ${quantile(rawInsert, 0.5).toFixed(0)} ms = ${Math.round((sample * 1000) / quantile(rawInsert, 0.5)).toLocaleString()} rows/s`,
  );
  console.log(`  SELECT max(at_ms) round trip: p50 ${quantile(probe, 0.5).toFixed(2)} ms`);
  console.log(
    `  JS per record, one thread: decodeEvent ${decodeUs.toFixed(1)} µs + rows ${rowsUs.toFixed(1)} µs ` +
      `(full decoder); the indexer's mapper (fast path + JSONEachRow) ${mapperUs.toFixed(1)} µs ` +
      `= ${Math.round(1e6 / mapperUs).toLocaleString()} records/s per map thread`,
  );
  console.log(
    `  verifying mapper (decode + re-hash body + Ed25519 verify + rows), signed receipts: ` +
      `${verifyingUs.toFixed(1)} µs = ${Math.round(1e6 / verifyingUs).toLocaleString()} records/s per map thread; ` +
      `same records unverified (fast path) ${signedFastUs.toFixed(1)} µs; bare Ed25519 verify ≈ ${bareVerifyUs.toFixed(1)} µs`,
  );
} finally {
  await store.close();
  await log?.close();
  rmSync(dir, { recursive: true, force: true });
}
