/**
 * Catch-up: indexes what the streams hold beyond the indexer's committed positions, up to
 * their current end, then stops. `ipvm sql` runs it before a query on a node whose indexer is
 * not running, so the tables answer for everything written so far.
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
import type { Log } from '../../streams/log.ts';
import type { TableStore } from './table-store.ts';

/** Options of {@link catchUpTables}. */
export interface CatchUpInit extends Omit<BatcherInit, 'commit' | 'store' | 'signal'> {
  log: Log;
  store: TableStore;
  streams: TableStreams;
  /** The indexer's consumer name. @default 'ipvm-tables' */
  consumer?: string;
}

/** Indexes from the committed positions to the end of every stream and commits. */
export async function catchUpTables(
  init: CatchUpInit,
  options: { signal?: AbortSignal } = {},
): Promise<IndexerStats> {
  const { log, store } = init;
  const signal = options.signal;
  const consumer = init.consumer ?? DEFAULT_CONSUMER;
  await store.migrate({ signal });
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
    for (const stream of [...init.streams.receipts, init.streams.invocations]) {
      const [committed, ends] = await Promise.all([
        log.committed(consumer, stream, { signal }),
        log.ends(stream, { signal }),
      ]);
      const partitions = await log.partitions(stream, { signal });
      for (let partition = 0; partition < partitions; partition++) {
        const from = committed[partition] ?? 0;
        // Nothing new there: no read (on Kafka each read joins a consumer group, seconds each).
        if (from >= (ends[partition] ?? 0)) continue;
        for await (const record of log.read(stream, { partition, from, signal })) {
          await batcher.add(record);
        }
      }
    }
  } finally {
    await batcher.close();
  }
  return batcher.stats();
}
