/**
 * Rebuilds the tables from the streams: drops and recreates them, then re-indexes every record
 * from offset 0 through the same batching core as the live indexer, committing the indexer's
 * positions as it goes. Because rows are a pure function of the events, the rebuilt tables hold
 * the same rows as the live-indexed ones.
 *
 * Stop the live indexer (same consumer) first; start it again afterwards and it continues from
 * where the rebuild ended.
 *
 * @module
 */
import {
  createTableBatcher,
  DEFAULT_CONSUMER,
  type BatcherInit,
  type IndexerStats,
  type TableStreams,
} from '../index-tables.ts';
import type { Log, Positions } from '../../streams/log.ts';
import type { TableStore } from './table-store.ts';

/** Options of {@link rebuildTables}. */
export interface RebuildInit extends Omit<BatcherInit, 'commit' | 'store' | 'signal'> {
  log: Log;
  store: TableStore;
  streams: TableStreams;
  /** The live indexer's consumer name, whose positions are reset and advanced. @default 'ipvm-tables' */
  consumer?: string;
}

/**
 * Drops, recreates and re-indexes the tables from offset 0 of every stream, up to the end of
 * the log as it is when each stream's read reaches it.
 * @returns the counters of the re-indexing.
 */
export async function rebuildTables(
  init: RebuildInit,
  options: { signal?: AbortSignal } = {},
): Promise<IndexerStats> {
  const { log, store, signal } = { ...init, signal: options.signal };
  const consumer = init.consumer ?? DEFAULT_CONSUMER;
  const streams = [...init.streams.receipts, init.streams.invocations];

  await store.dropTables({ signal });
  await store.migrate({ signal });
  // Positions first go back to 0, so a crash mid-rebuild leaves tables and positions agreeing.
  for (const stream of streams) {
    const n = await log.partitions(stream, { signal });
    const zero: Positions = {};
    for (let p = 0; p < n; p++) zero[p] = 0;
    await log.commit(consumer, stream, zero, { signal });
  }
  const batcher = createTableBatcher({
    ...init,
    signal,
    commit: async (positions, o) => {
      for (const [stream, ps] of Object.entries(positions)) {
        await log.commit(consumer, stream, ps, o);
      }
    },
  });
  try {
    for (const stream of streams) {
      for await (const record of log.read(stream, { from: 'earliest', signal })) {
        await batcher.add(record);
      }
    }
  } finally {
    await batcher.close();
  }
  signal?.throwIfAborted();
  return batcher.stats();
}
