/**
 * Re-indexes one range of the streams into the tables: the rows derived from exactly the
 * records inside the range are inserted again (rows are a pure function of their event, so
 * rows already there collapse with them), nothing is dropped and the live indexer's positions
 * do not move. Use it to repair a window; `rebuild.ts` rebuilds everything.
 *
 * @module
 */
import {
  createTableBatcher,
  type BatcherInit,
  type IndexerStats,
  type TableStreams,
} from '../index-tables.ts';
import type { Log, LogRecord } from '../../streams/log.ts';
import type { TableStore } from './table-store.ts';

/** Options of {@link reindexRange}. */
export interface ReindexRangeInit extends Omit<BatcherInit, 'commit' | 'store' | 'signal'> {
  log: Log;
  store: TableStore;
  streams: TableStreams;
  /** Keeps a record (the range and workflow filter). */
  filter: (record: LogRecord) => boolean;
  /** Called for every record read, kept or not (progress). */
  onRecord?: (record: LogRecord, kept: boolean) => void;
}

/** Inserts the rows of the records `filter` keeps; returns the indexer's counters. */
export async function reindexRange(
  init: ReindexRangeInit,
  options: { signal?: AbortSignal } = {},
): Promise<IndexerStats> {
  const { log, store, signal } = { ...init, signal: options.signal };
  await store.migrate({ signal });
  const batcher = createTableBatcher({ ...init, signal, commit: () => Promise.resolve() });
  try {
    for (const stream of [...init.streams.receipts, init.streams.invocations]) {
      for await (const record of log.read(stream, { from: 'earliest', signal })) {
        const kept = init.filter(record);
        init.onRecord?.(record, kept);
        if (kept) await batcher.add(record);
      }
    }
  } finally {
    await batcher.close();
  }
  signal?.throwIfAborted();
  return batcher.stats();
}
