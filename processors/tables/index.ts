/**
 * The ClickHouse tables: the global memo and the reverse lookup, as a projection of the streams.
 * See `README.md` beside this file.
 *
 * @module
 */
import { createChdbTableStore } from './chdb.ts';
import { createServerTableStore } from './server.ts';
import type { TableStore } from './table-store.ts';

export type * from './table-store.ts';
export { DEFAULT_DATABASE } from './table-store.ts';
export * from './errors.ts';
export { createChdbTableStore, type ChdbTableStoreInit } from './chdb.ts';
export { createServerTableStore, type ServerTableStoreInit } from './server.ts';
export { receiptEventToRows, workflowEventToRow, type ReceiptRows } from './rows.ts';
export { warmMemo, type WarmMemoOptions, DEFAULT_WARM_BATCH_SIZE } from './warm-memo.ts';
export { rebuildTables, type RebuildInit } from './rebuild.ts';

/** Options of {@link openTableStore}. */
export interface OpenTableStoreInit {
  /** A ClickHouse server URL; when given, the server adapter is used. */
  clickhouseUrl?: string;
  /** The node's data directory, for the embedded adapter. */
  dataDir?: string;
  /** Database holding the tables. @default 'ipvm' */
  database?: string;
}

/**
 * The table store a node is configured for: a server when a URL is given, otherwise the
 * embedded engine under the data directory.
 */
export function openTableStore(init: OpenTableStoreInit): TableStore {
  if (init.clickhouseUrl !== undefined && init.clickhouseUrl !== '') {
    return createServerTableStore({ url: init.clickhouseUrl, database: init.database });
  }
  return createChdbTableStore({ dataDir: init.dataDir ?? '.ipvm', database: init.database });
}
export { catchUpTables, type CatchUpInit } from './catch-up.ts';
export { tablesConsumer, CONSUMER_FILE } from './consumer.ts';
export { reindexRange, type ReindexRangeInit } from './range.ts';
export {
  indexMismatches,
  mismatchRow,
  type MismatchRow,
  type IndexMismatchesInit,
} from './mismatches.ts';
