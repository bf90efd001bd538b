// The table indexer over an in-memory Log and the embedded table store: batching by size and
// time, commit-after-insert, retries, skipped records, restart, and replay mode (a rebuild
// from offset 0 gives the same rows as live indexing).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cidOf } from '../../schemas/cid.ts';
import { encodeEvent, type NodeEvent } from '../../schemas/events.ts';
import { createTopology } from '../../streams/topology.ts';
import {
  createTableBatcher,
  indexTables,
  tableStreams,
  type IndexerProgressEvent,
} from '../../processors/index-tables.ts';
import { createChdbTableStore } from '../../processors/tables/chdb.ts';
import { IndexerError, TableQueryError } from '../../processors/tables/errors.ts';
import { rebuildTables } from '../../processors/tables/rebuild.ts';
import type { TableStore } from '../../processors/tables/table-store.ts';
import { warmMemo } from '../../processors/tables/warm-memo.ts';
import { createMemoryLog, type MemoryLog } from './memory-log.ts';
import { makeEnded, makeReceiptEvent, makeSubmitted } from './make-events.ts';

const root = mkdtempSync(join(tmpdir(), 'ipvm-indexer-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dbs = 0;

const topology = createTopology({ namespace: 'test', partitions: { pure: 2, invocations: 2 } });
const streams = tableStreams(topology);

async function fresh(): Promise<{ log: MemoryLog; store: TableStore }> {
  const log = createMemoryLog();
  await log.ensureStreams(topology.streams);
  const store = createChdbTableStore({ dataDir: root, database: `idx${dbs++}` });
  await store.migrate();
  return { log, store };
}

const keyOf = (e: NodeEvent): string =>
  e.type === 'receipt'
    ? e.instruction.toString()
    : 'workflow' in e && e.workflow
      ? e.workflow.toString()
      : 'x';

async function append(log: MemoryLog, stream: string, events: NodeEvent[]): Promise<void> {
  await log.append(
    stream,
    events.map((e) => ({ key: keyOf(e), value: encodeEvent(e) })),
  );
}

/** A workflow of `n` chained tasks plus a replay of the first one, on the right streams. */
async function workload(log: MemoryLog, n: number, seed = 0): Promise<NodeEvent[]> {
  const wf = cidOf({ workflow: seed });
  const receipts: NodeEvent[] = [];
  let prev: ReturnType<typeof makeReceiptEvent> | undefined;
  for (let i = 0; i < n; i++) {
    const e = makeReceiptEvent({
      i: seed * 1000 + i,
      func: ['add', 'mul', 'div'][i % 3],
      workflow: wf,
      awaits: prev?.instruction,
      at: 1_700_000_000_000 + i,
    });
    receipts.push(e);
    prev = e;
  }
  const first = receipts[0] as ReturnType<typeof makeReceiptEvent>;
  const replay = { ...first, replayed: true, executor: 'node-b', at: first.at + 10_000 };
  await append(log, topology.name('pure'), [...receipts, replay]);
  const effect = makeReceiptEvent({ i: seed * 1000 + 999, func: 'http/get', at: 1 });
  await append(log, topology.name('effects.pure'), [effect]);
  const lifecycle: NodeEvent[] = [
    makeSubmitted(wf, n, 10),
    makeEnded(
      wf,
      receipts.map((r) => (r as ReturnType<typeof makeReceiptEvent>).receipt),
      [],
      20,
    ),
  ];
  await append(log, topology.name('invocations'), lifecycle);
  return [...receipts, replay, effect, ...lifecycle];
}

async function snapshot(store: TableStore) {
  return {
    receipts: await store.query(
      'SELECT * FROM receipts FINAL ORDER BY instruction_cid, replayed, executor, at_ms',
    ),
    lineage: await store.query(
      'SELECT * FROM lineage FINAL ORDER BY input_cid, instruction_cid, receipt_cid, path',
    ),
    workflows: await store.query('SELECT * FROM workflows FINAL ORDER BY workflow_cid, event'),
  };
}

/** End offsets of the partitions that hold records (the ones a consumer commits). */
async function nonEmptyEnds(log: MemoryLog, stream: string): Promise<Record<number, number>> {
  return Object.fromEntries(Object.entries(await log.ends(stream)).filter(([, end]) => end > 0));
}

/** Runs the indexer until `done()` holds, then stops it. */
async function runUntil(
  indexer: ReturnType<typeof indexTables>,
  done: () => boolean | Promise<boolean>,
): Promise<void> {
  const ac = new AbortController();
  const running = indexer.run({ signal: ac.signal });
  for (let i = 0; i < 500 && !(await done()); i++) await new Promise((r) => setTimeout(r, 10));
  ac.abort();
  await running;
}

describe('table indexer', () => {
  it('indexes every stream and commits positions after the insert', async () => {
    const { log, store } = await fresh();
    await using _s = store;
    const events = await workload(log, 10);
    const progress: IndexerProgressEvent[] = [];
    const indexer = indexTables({
      log,
      store,
      streams,
      batchSize: 4,
      flushIntervalMs: 5,
      onProgress: (e) => progress.push(e),
    });
    await runUntil(indexer, () => indexer.stats().records === events.length);
    await indexer.close();

    const stats = indexer.stats();
    expect(stats).toMatchObject({ records: 14, receipts: 12, workflows: 2, undecodable: 0 });
    expect(stats.batches).toBeGreaterThanOrEqual(3);
    const [n] = await store.query<{ n: number }>('SELECT count() AS n FROM receipts FINAL');
    expect(n?.n).toBe(12);
    const [wf] = await store.query<{ status: string; tasks: number }>(
      'SELECT status, tasks FROM workflow_status',
    );
    expect(wf).toEqual({ status: 'completed', tasks: 10 });
    for (const stream of [...streams.receipts, streams.invocations]) {
      expect(await log.committed('ipvm-tables', stream)).toEqual(await nonEmptyEnds(log, stream));
    }
    const lag = await indexer.lag();
    expect(Object.values(lag).every((l) => l.pending === 0 && l.behind === 0)).toBe(true);
    expect(progress.filter((p) => p.type === 'tables:flushed').length).toBe(stats.batches);
  });

  it('flushes a partial batch after flushIntervalMs', async () => {
    const { log, store } = await fresh();
    await using _s = store;
    await workload(log, 3);
    const indexer = indexTables({ log, store, streams, batchSize: 10_000, flushIntervalMs: 20 });
    const ac = new AbortController();
    const running = indexer.run({ signal: ac.signal });
    let visible = 0;
    for (let i = 0; i < 300 && visible < 5; i++) {
      await new Promise((r) => setTimeout(r, 10));
      const [row] = await store.query<{ n: number }>('SELECT count() AS n FROM receipts');
      visible = row?.n ?? 0;
    }
    // Visible while the indexer still runs: the timer flushed, not the shutdown.
    expect(visible).toBe(5);
    ac.abort();
    await running;
  });

  it('caughtUp: what the log held when asked is in the tables, whatever the flush interval', async () => {
    const { log, store } = await fresh();
    await using _s = store;
    // A timer that never fires within the test: only caughtUp can make the rows visible.
    const indexer = indexTables({
      log,
      store,
      streams,
      batchSize: 10_000,
      flushIntervalMs: 60_000,
    });
    const ac = new AbortController();
    const running = indexer.run({ signal: ac.signal });
    await workload(log, 3); // appended while the indexer runs: 5 receipts
    await indexer.caughtUp();
    const [row] = await store.query<{ n: number }>('SELECT count() AS n FROM receipts');
    expect(row?.n).toBe(5);
    // Nothing new: resolves at once.
    await indexer.caughtUp();
    ac.abort();
    await running;
    // A stopped indexer says so instead of waiting for records it will never take.
    await workload(log, 1, 1);
    await expect(indexer.caughtUp()).rejects.toThrow('the table indexer has stopped');
  });

  it('skips and counts undecodable records, committing past them', async () => {
    const { log, store } = await fresh();
    await using _s = store;
    await log.append(topology.name('pure'), [
      { key: 'k', value: new Uint8Array([0xff, 0x00, 0x13]) },
      { key: 'k', value: encodeEvent({ ...makeReceiptEvent({ i: 1 }) }) },
    ]);
    const skipped: IndexerProgressEvent[] = [];
    const indexer = indexTables({
      log,
      store,
      streams,
      flushIntervalMs: 1,
      onProgress: (e) => e.type === 'tables:skipped' && skipped.push(e),
    });
    await runUntil(indexer, () => indexer.stats().records === 2);
    expect(indexer.stats()).toMatchObject({ undecodable: 1, receipts: 1 });
    expect(skipped).toMatchObject([{ type: 'tables:skipped', stream: 'test.pure', offset: 0 }]);
    const committed = await log.committed('ipvm-tables', 'test.pure');
    expect(Object.values(committed).reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('does not commit when the insert fails, and a restart indexes the batch', async () => {
    const { log, store } = await fresh();
    await using _s = store;
    await workload(log, 4);
    let failing = true;
    const flaky: TableStore = Object.create(store, {
      insertJsonEachRow: {
        value: async (...args: Parameters<TableStore['insertJsonEachRow']>) => {
          if (failing) throw new TableQueryError('boom', { adapter: 'test' });
          return store.insertJsonEachRow(...args);
        },
      },
    }) as TableStore;
    const indexer = indexTables({ log, store: flaky, streams, flushIntervalMs: 1 });
    const err = await indexer.run().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IndexerError);
    expect((err as IndexerError).retryable).toBe(false);
    for (const stream of [...streams.receipts, streams.invocations]) {
      expect(await log.committed('ipvm-tables', stream)).toEqual({});
    }
    failing = false;
    const again = indexTables({ log, store, streams, flushIntervalMs: 1 });
    await runUntil(again, () => again.stats().records === 8);
    const [n] = await store.query<{ n: number }>('SELECT count() AS n FROM receipts FINAL');
    expect(n?.n).toBe(6);
  });

  it('retries a retryable commit failure', async () => {
    const { log, store } = await fresh();
    await using _s = store;
    await workload(log, 2);
    log.failCommits(2);
    const retries: IndexerProgressEvent[] = [];
    const indexer = indexTables({
      log,
      store,
      streams,
      flushIntervalMs: 1,
      onProgress: (e) => e.type === 'tables:retry' && retries.push(e),
    });
    await runUntil(indexer, async () => {
      const c = await log.committed('ipvm-tables', 'test.invocations');
      return Object.keys(c).length > 0 && indexer.stats().records === 6;
    });
    expect(retries.length).toBe(2);
    expect(Object.keys(await log.committed('ipvm-tables', 'test.pure')).length).toBeGreaterThan(0);
  });

  it('resumes from committed positions after a restart without duplicating rows', async () => {
    const { log, store } = await fresh();
    await using _s = store;
    await workload(log, 3, 1);
    const first = indexTables({ log, store, streams, flushIntervalMs: 1 });
    await runUntil(first, () => first.stats().records === 7);
    await workload(log, 3, 2);
    const second = indexTables({ log, store, streams, flushIntervalMs: 1 });
    await runUntil(second, () => second.stats().records === 7);
    expect(second.stats().records).toBe(7); // only the new records
    const [n] = await store.query<{ n: number }>('SELECT count() AS n FROM receipts');
    expect(n?.n).toBe(10);
  });

  it('replay mode: a rebuild from offset 0 gives the rows of live indexing', async () => {
    const { log, store } = await fresh();
    await using _s = store;
    await workload(log, 12, 3);
    const live = indexTables({ log, store, streams, batchSize: 5, flushIntervalMs: 1 });
    await runUntil(live, () => live.stats().records === 16);
    // At-least-once: part of the history delivered twice changes nothing.
    const dup = createTableBatcher({ store });
    for await (const r of log.read(topology.name('pure'))) await dup.add(r);
    await dup.flush();
    const liveRows = await snapshot(store);
    expect(liveRows.receipts.length).toBe(14);

    const stats = await rebuildTables({ log, store, streams, batchSize: 7 });
    expect(stats).toMatchObject({ records: 16, receipts: 14, workflows: 2 });
    expect(await snapshot(store)).toEqual(liveRows);
    for (const stream of [...streams.receipts, streams.invocations]) {
      // The rebuild first resets every partition to 0, then advances the non-empty ones.
      expect(await log.committed('ipvm-tables', stream)).toEqual(await log.ends(stream));
    }
  });

  it('maps on worker threads with the same rows as on the calling thread', async () => {
    const { log, store } = await fresh();
    await using _s = store;
    await workload(log, 30, 5);
    await log.append(topology.name('pure'), [{ key: 'bad', value: new Uint8Array([0xff]) }]);
    const inThread = indexTables({ log, store, streams, batchSize: 11, flushIntervalMs: 1 });
    await runUntil(inThread, () => inThread.stats().records === 35);
    const expected = await snapshot(store);
    const skipped: IndexerProgressEvent[] = [];
    const stats = await rebuildTables({
      log,
      store,
      streams,
      batchSize: 11,
      mapWorkers: 2,
      onProgress: (e) => e.type === 'tables:skipped' && skipped.push(e),
    });
    expect(stats).toMatchObject({ records: 35, receipts: 32, workflows: 2, undecodable: 1 });
    expect(skipped).toMatchObject([
      { stream: 'test.pure', reason: expect.stringMatching(/Decode/) },
    ]);
    expect(await snapshot(store)).toEqual(expected);
  });

  it('warms the memo in batches for a node joining late', async () => {
    const { log, store } = await fresh();
    await using _s = store;
    const events = await workload(log, 25, 4);
    const indexer = indexTables({ log, store, streams, flushIntervalMs: 1 });
    await runUntil(indexer, () => indexer.stats().records === events.length);
    const wanted = events.flatMap((e) => (e.type === 'receipt' ? [e.instruction.toString()] : []));
    const missing = cidOf({ not: 'there' }).toString();
    const progress: number[] = [];
    const found = await warmMemo(store, [...wanted, missing], {
      batchSize: 10,
      onProgress: (p) => progress.push(p.looked),
    });
    expect(found.size).toBe(26);
    expect(found.has(missing)).toBe(false);
    expect(progress).toEqual([10, 20, 27]);
    const first = events[0] as ReturnType<typeof makeReceiptEvent>;
    expect(found.get(first.instruction.toString())?.executor).toBe('node-a');
  });
});
