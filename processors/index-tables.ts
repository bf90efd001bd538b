/**
 * The table indexer: follows the receipt streams (`pure`, `effects.pure`, `effects.managed`) and
 * `invocations` as one consumer, turns each event into rows (`tables/rows.ts`), inserts them in
 * batches (by size or time) and commits the stream positions only after the insert succeeded.
 * Delivery is at-least-once; the tables collapse re-indexed rows, so the result is the same.
 *
 * Records that cannot be decoded or mapped are skipped for the tables and counted (the
 * dead-letter path belongs to the streams layer). Events the tables do not record
 * (`task/ready`, `dead-letter`) are skipped silently and counted as ignored.
 *
 * @example
 * ```ts
 * const indexer = indexTables({ log, store, streams: tableStreams(topology) });
 * const ac = new AbortController();
 * const running = indexer.run({ signal: ac.signal });
 * // …
 * ac.abort();
 * await running; // flushed and committed
 * ```
 *
 * @module
 */
import type { ReceiptCheck } from './auth/verify-receipt.ts';
import type { NodeEvent } from '../schemas/events.ts';
import type { Log, LogRecord, Positions } from '../streams/log.ts';
import { receiptStreams, type Topology } from '../streams/topology.ts';
import { IndexerError, TableStoreConfigError } from './tables/errors.ts';
import { createRowMapper, type MappedRecords } from './tables/row-mapper.ts';
import type { TableStore } from './tables/table-store.ts';

/** Records per batch. @default 10000 */
export const DEFAULT_BATCH_SIZE = 10_000;
/** Longest a record waits in a partial batch, in ms. @default 200 */
export const DEFAULT_FLUSH_INTERVAL_MS = 200;
/** Consumer name of the indexer. @default 'ipvm-tables' */
export const DEFAULT_CONSUMER = 'ipvm-tables';
/** Full batches being mapped or inserted while the next is read. @default 2 */
export const DEFAULT_MAX_BATCHES_IN_FLIGHT = 2;
/** Attempts of a retryable insert or commit before giving up. @default 8 */
export const DEFAULT_RETRY_ATTEMPTS = 8;
/** How often {@link TableIndexer.caughtUp} looks again while the consumers take the records. */
const CAUGHT_UP_POLL_MS = 5;

/** The streams the indexer follows (full names). */
export interface TableStreams {
  /** Receipt streams: `pure`, `effects.pure`, `effects.managed`. */
  receipts: readonly string[];
  /** The `invocations` stream (workflow lifecycle events, and replayed receipts). */
  invocations: string;
}

/** The indexer's streams under a topology's namespace. */
export function tableStreams(topology: Topology): TableStreams {
  return {
    receipts: receiptStreams(topology),
    invocations: topology.name('invocations'),
  };
}

/** Progress events, through {@link BatcherInit.onProgress}. */
export type IndexerProgressEvent =
  | {
      type: 'tables:flushed';
      /** Records in the batch (skipped ones included). */
      records: number;
      receipts: number;
      lineage: number;
      workflows: number;
      /** Insert + commit time. */
      durationMs: number;
      /** Positions committed, per stream. */
      positions: Record<string, Positions>;
    }
  | {
      type: 'tables:skipped';
      stream: string;
      partition: number;
      offset: number;
      /** Why the record was not indexed. */
      reason: string;
    }
  | {
      type: 'tables:refused';
      stream: string;
      partition: number;
      offset: number;
      /** Why the receipt failed verification (forged, tampered, unsigned, untrusted signer). */
      reason: string;
    }
  | { type: 'tables:retry'; attempt: number; delayMs: number; error: Error };

/** Counters since the indexer started. */
export interface IndexerStats {
  /** Records consumed (all kinds). */
  records: number;
  /** Rows written per table. */
  receipts: number;
  lineage: number;
  workflows: number;
  /** Records that could not be decoded or mapped to rows. */
  undecodable: number;
  /** Receipts refused by verification (never a row). */
  refused: number;
  /** Records of event types the tables do not record. */
  ignored: number;
  /** Batches written. */
  batches: number;
}

/** Construction options of {@link createTableBatcher}. */
export interface BatcherInit {
  store: TableStore;
  /** Records per batch; a full batch is flushed at once. @default 10000 */
  batchSize?: number;
  /** A partial batch is flushed this long after its first record. @default 200 */
  flushIntervalMs?: number;
  /** Called after each successful insert with the positions to commit (per stream). */
  commit?: (
    positions: Record<string, Positions>,
    options: { signal?: AbortSignal },
  ) => Promise<void>;
  /** Event decoder (only with `mapWorkers: 0`). @default decodeEvent */
  decode?: (bytes: Uint8Array) => NodeEvent;
  /**
   * Worker threads that decode records and build rows; 0 does it on the calling thread. Use
   * the cores the node can spare: one core maps roughly 20–40k receipts/s.
   * @default 0
   */
  mapWorkers?: number;
  /** Attempts of a retryable insert or commit. @default 8 */
  retryAttempts?: number;
  /**
   * Verify every receipt before it becomes a row (`Authority.receiptCheck`): its body hashes to
   * its CID, its signature by `iss` holds, and in `ucan` mode it is signed by a trusted DID. A
   * refused receipt is counted (`refused`) and reported (`tables:refused`), never a row. This
   * turns off the undecoded fast path for receipts. Without it receipts are indexed unchecked.
   */
  verify?: ReceiptCheck;
  /**
   * Full batches that may be mapped or inserted while the next one is read; `add` waits beyond
   * that (backpressure). @default 2
   */
  maxBatchesInFlight?: number;
  /** Typed progress events. */
  onProgress?: (event: IndexerProgressEvent) => void;
  /** Called once when a batch fails for good (also for a flush started by the timer). */
  onFailure?: (error: IndexerError) => void;
  /** Aborts waits between retries. */
  signal?: AbortSignal;
}

/** The batching core: records in, batched inserts and commits out. */
export interface TableBatcher {
  /**
   * Adds a record. Resolves at once, or — when a batch fills up while `maxBatchesInFlight` are
   * already being written — once the oldest of them is written and committed (backpressure).
   * Rejects with {@link IndexerError} when a write failed for good.
   */
  add(record: LogRecord): Promise<void>;
  /** Writes and commits whatever is pending. */
  flush(): Promise<void>;
  /** Records added but not yet committed, per stream. */
  pending(): Record<string, number>;
  /** Counters. */
  stats(): IndexerStats;
  /** Flushes, then stops the timer and the map workers. */
  close(): Promise<void>;
}

interface Batch {
  values: Uint8Array[];
  where: Array<{ stream: string; partition: number; offset: number }>;
  positions: Record<string, Positions>;
  perStream: Record<string, number>;
}

const emptyBatch = (): Batch => ({ values: [], where: [], positions: {}, perStream: {} });

const retryable = (e: unknown): boolean =>
  typeof e === 'object' && e !== null && (e as { retryable?: unknown }).retryable === true;

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Creates the batching core used by the live indexer and by the rebuild. */
export function createTableBatcher(init: BatcherInit): TableBatcher {
  const batchSize = init.batchSize ?? DEFAULT_BATCH_SIZE;
  const flushIntervalMs = init.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new TableStoreConfigError('batchSize must be a positive integer', 'batchSize', 'indexer');
  }
  if (!(flushIntervalMs >= 0)) {
    throw new TableStoreConfigError('flushIntervalMs must be ≥ 0', 'flushIntervalMs', 'indexer');
  }
  const mapper = createRowMapper({
    workers: init.mapWorkers ?? 0,
    decode: init.decode,
    verify: init.verify,
  });
  const maxInFlight = init.maxBatchesInFlight ?? DEFAULT_MAX_BATCHES_IN_FLIGHT;
  if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) {
    throw new TableStoreConfigError(
      'maxBatchesInFlight must be a positive integer',
      'maxBatchesInFlight',
      'indexer',
    );
  }
  const attempts = init.retryAttempts ?? DEFAULT_RETRY_ATTEMPTS;
  const stats: IndexerStats = {
    records: 0,
    receipts: 0,
    lineage: 0,
    workflows: 0,
    undecodable: 0,
    refused: 0,
    ignored: 0,
    batches: 0,
  };
  let current = emptyBatch();
  const inFlight = new Set<Batch>();
  const settled = new Map<Batch, Promise<void>>();
  /** Resolves when the oldest batch in flight is written (rejects when it failed). */
  const oldest = (): Promise<void> => {
    const [first] = inFlight;
    return first === undefined ? Promise.resolve() : (settled.get(first) ?? Promise.resolve());
  };
  let chain: Promise<void> = Promise.resolve();
  let failure: IndexerError | undefined;
  let timer: NodeJS.Timeout | undefined;

  const withRetry = async (what: () => Promise<void>): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      try {
        await what();
        return;
      } catch (e) {
        if (!retryable(e) || attempt >= attempts || init.signal?.aborted) throw e;
        const delayMs = Math.min(50 * 2 ** (attempt - 1), 5000);
        init.onProgress?.({ type: 'tables:retry', attempt, delayMs, error: e as Error });
        await sleep(delayMs, init.signal);
      }
    }
  };

  const write = async (batch: Batch, mapped: MappedRecords): Promise<void> => {
    const started = performance.now();
    const { store } = init;
    for (const s of mapped.skipped) {
      const where = batch.where[s.index];
      stats.undecodable++;
      if (where) init.onProgress?.({ type: 'tables:skipped', ...where, reason: s.reason });
    }
    for (const s of mapped.refused) {
      const where = batch.where[s.index];
      stats.refused++;
      if (where) init.onProgress?.({ type: 'tables:refused', ...where, reason: s.reason });
    }
    stats.ignored += mapped.ignored;
    try {
      await withRetry(() =>
        Promise.all([
          store.insertJsonEachRow('receipts', mapped.receipts),
          store.insertJsonEachRow('lineage', mapped.lineage),
          store.insertJsonEachRow('workflows', mapped.workflows),
        ]).then(() => undefined),
      );
      if (init.commit) {
        const commit = init.commit;
        await withRetry(() => commit(batch.positions, { signal: init.signal }));
      }
    } catch (cause) {
      const offsets: Record<string, string> = {};
      for (const [stream, ps] of Object.entries(batch.positions)) {
        offsets[stream] = Object.entries(ps)
          .map(([p, o]) => `${p}:${o - 1}`)
          .join(',');
      }
      throw new IndexerError(`writing a batch of ${batch.values.length} records failed`, {
        offsets,
        retryable: retryable(cause),
        cause,
      });
    }
    stats.batches++;
    stats.receipts += mapped.counts.receipts;
    stats.lineage += mapped.counts.lineage;
    stats.workflows += mapped.counts.workflows;
    init.onProgress?.({
      type: 'tables:flushed',
      records: batch.values.length,
      receipts: mapped.counts.receipts,
      lineage: mapped.counts.lineage,
      workflows: mapped.counts.workflows,
      durationMs: performance.now() - started,
      positions: batch.positions,
    });
  };

  // Mapping starts at once (on workers it overlaps the previous batch's insert); inserts and
  // commits run one batch after another, so commits never go backwards.
  const flush = (): Promise<void> => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (failure) return Promise.reject(failure);
    const batch = current;
    if (batch.values.length > 0) {
      current = emptyBatch();
      inFlight.add(batch);
      const mapping = mapper.map(batch.values);
      mapping.catch(() => {}); // observed below; a failure ahead of it must not leave it unhandled
      chain = chain.then(async () => {
        try {
          if (failure) throw failure;
          await write(batch, await mapping);
        } catch (e) {
          if (failure === undefined) {
            failure =
              e instanceof IndexerError
                ? e
                : new IndexerError(String(e), { offsets: {}, retryable: false, cause: e });
            init.onFailure?.(failure);
          }
          throw failure;
        } finally {
          inFlight.delete(batch);
          settled.delete(batch);
        }
      });
      settled.set(batch, chain);
    }
    return chain;
  };

  const add = (record: LogRecord): Promise<void> => {
    if (failure) return Promise.reject(failure);
    stats.records++;
    const batch = current;
    batch.values.push(record.value);
    batch.where.push({ stream: record.stream, partition: record.partition, offset: record.offset });
    const ps = (batch.positions[record.stream] ??= {});
    ps[record.partition] = Math.max(ps[record.partition] ?? 0, record.offset + 1);
    batch.perStream[record.stream] = (batch.perStream[record.stream] ?? 0) + 1;
    if (batch.values.length >= batchSize) {
      const written = flush();
      // Keep reading while earlier batches are mapped and inserted; wait only when more than
      // `maxBatchesInFlight` are, so reading, mapping and inserting overlap.
      if (inFlight.size <= maxInFlight) {
        written.catch(() => {}); // reported by the next add/flush and onFailure
        return Promise.resolve();
      }
      return oldest();
    }
    if (timer === undefined) {
      timer = setTimeout(() => {
        timer = undefined;
        // A failure is kept and reported by the next add/flush.
        flush().catch(() => {});
      }, flushIntervalMs);
    }
    return Promise.resolve();
  };

  return {
    add,
    flush,
    pending() {
      const out: Record<string, number> = {};
      for (const b of [...inFlight, current]) {
        for (const [s, n] of Object.entries(b.perStream)) out[s] = (out[s] ?? 0) + n;
      }
      return out;
    },
    stats: () => ({ ...stats }),
    async close() {
      try {
        await flush();
      } finally {
        await mapper.close();
      }
    },
  };
}

/** Construction options of {@link indexTables}. */
export interface IndexTablesInit extends Omit<BatcherInit, 'commit' | 'signal'> {
  log: Log;
  /** The streams to follow; see {@link tableStreams}. */
  streams: TableStreams;
  /** Consumer name (positions are committed under it). @default 'ipvm-tables' */
  consumer?: string;
  /** Where to start on partitions without a committed position. @default 'earliest' */
  from?: 'earliest' | 'latest';
}

/** How far the indexer is behind on one stream. */
export interface StreamLag {
  /** Records received but not yet committed. */
  pending: number;
  /** Records in the log past the committed positions (an upper bound on JetStream). */
  behind: number;
}

/** The live indexer. */
export interface TableIndexer extends AsyncDisposable {
  /**
   * Consumes every stream until `signal` aborts or {@link TableIndexer.close} is called, then
   * flushes and commits what it holds. Rejects with {@link IndexerError} when a batch could not
   * be written (its positions are not committed, so a restart retries it).
   */
  run(options?: { signal?: AbortSignal }): Promise<void>;
  /** Writes and commits the pending partial batch now. */
  flush(): Promise<void>;
  /**
   * Resolves once every record that was in the log when it was called is in the tables (written
   * and committed): a query after it sees what the node had appended before (a workflow that
   * ended, its receipts). Records appended meanwhile are not waited for.
   */
  caughtUp(options?: { signal?: AbortSignal }): Promise<void>;
  /** Counters since construction. */
  stats(): IndexerStats;
  /** Lag per stream (full stream name). */
  lag(options?: { signal?: AbortSignal }): Promise<Record<string, StreamLag>>;
  /** Stops consuming, flushes, commits. Idempotent. */
  close(): Promise<void>;
  /** Same as {@link TableIndexer.close}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Creates the live table indexer. It does nothing until {@link TableIndexer.run}. */
export function indexTables(init: IndexTablesInit): TableIndexer {
  const consumer = init.consumer ?? DEFAULT_CONSUMER;
  const streams = [...init.streams.receipts, init.streams.invocations];
  const stop = new AbortController();
  // `stop` ends consumption only: the final flush and its commit must still go through.
  const batcher = createTableBatcher({
    ...init,
    onFailure: (error) => {
      init.onFailure?.(error);
      stop.abort(); // a failed batch ends consumption; run() rejects with it
    },
    commit: async (positions, options) => {
      for (const [stream, ps] of Object.entries(positions)) {
        await init.log.commit(consumer, stream, ps, options);
      }
    },
  });
  let running: Promise<void> | undefined;
  /** Consumption has ended (stopped, aborted or failed): no record will be taken any more. */
  let stopped = false;

  const run = (options?: { signal?: AbortSignal }): Promise<void> => {
    running ??= (async () => {
      const signal = options?.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
      // One loop per stream; `add` applies backpressure when a batch is full.
      const loops = streams.map(async (stream) => {
        try {
          for await (const record of init.log.consume(stream, {
            consumer,
            from: init.from ?? 'earliest',
            signal,
          })) {
            await batcher.add(record);
          }
        } catch (e) {
          stop.abort(); // the other loops may be waiting for records: end them too
          throw e;
        }
      });
      const results = await Promise.allSettled(loops);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        await batcher.close().catch(() => {});
        throw failed.reason;
      }
      await batcher.close();
    })().finally(() => {
      stopped = true;
    });
    return running;
  };

  const close = async (): Promise<void> => {
    stop.abort();
    if (running) await running.catch(() => {});
    else await batcher.close();
  };

  /** True when `consumer`'s committed positions on `stream` reach `ends`. */
  const reached = async (
    stream: string,
    ends: Record<number, number>,
    signal: AbortSignal | undefined,
  ): Promise<boolean> => {
    const committed = await init.log.committed(consumer, stream, { signal });
    return Object.entries(ends).every(([p, end]) => (committed[Number(p)] ?? 0) >= end);
  };

  return {
    run,
    flush: () => batcher.flush(),
    async caughtUp(options) {
      const signal = options?.signal;
      const ends = await Promise.all(streams.map((s) => init.log.ends(s, { signal })));
      for (;;) {
        await batcher.flush();
        const done = await Promise.all(streams.map((s, i) => reached(s, ends[i]!, signal)));
        if (done.every(Boolean)) return;
        // Records the consumers have not taken yet: the next flush writes them.
        signal?.throwIfAborted();
        if (stopped || stop.signal.aborted) throw new Error('the table indexer has stopped');
        await new Promise((resolve) => setTimeout(resolve, CAUGHT_UP_POLL_MS));
      }
    },
    stats: () => batcher.stats(),
    async lag(options) {
      const pending = batcher.pending();
      const out: Record<string, StreamLag> = {};
      for (const stream of streams) {
        const [end, committed] = await Promise.all([
          init.log.ends(stream, options),
          init.log.committed(consumer, stream, options),
        ]);
        let behind = 0;
        for (const [p, e] of Object.entries(end)) {
          behind += Math.max(0, e - (committed[Number(p)] ?? 0));
        }
        out[stream] = { pending: pending[stream] ?? 0, behind };
      }
      return out;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Indexes a finite sequence of records (e.g. `log.read(…)` without `follow`) through the
 * batching core and flushes at the end. Used by the rebuild and handy in tests.
 */
export async function indexRecords(
  records: AsyncIterable<LogRecord>,
  batcher: TableBatcher,
): Promise<void> {
  for await (const record of records) await batcher.add(record);
  await batcher.flush();
}
