// The embedded adapter: ClickHouse in-process through chdb. Only its async API is used (queries
// and inserts run on libuv's thread pool), so the event loop never waits on the engine.
import { join } from 'node:path';
import { drainPending, Session } from 'chdb';
import {
  capabilitiesFor,
  createStatements,
  dropStatements,
  quoteIdentifier,
} from '../../schemas/clickhouse/ddl.ts';
import {
  TableQueryError,
  TableStoreClosedError,
  TableStoreConfigError,
  TableStoreError,
} from './errors.ts';
import {
  assertTable,
  clickhouseCode,
  ENGINE_FORMAT,
  jsonEachRow,
  memoLookupSql,
  parseJsonEachRow,
  pickMemo,
  validCids,
} from './sql.ts';
import type {
  CallOptions,
  LineageRow,
  QueryOptions,
  ReceiptRow,
  TableStore,
  WorkflowRow,
} from './table-store.ts';
import { DEFAULT_DATABASE } from './table-store.ts';

/** Construction options of {@link createChdbTableStore}. */
export interface ChdbTableStoreInit {
  /**
   * The node's data directory; the engine keeps its files in `<dataDir>/clickhouse`. chdb allows
   * one open data directory per process: stores on the same directory may coexist (e.g. one per
   * database), a store on another directory opens only after the first is closed.
   */
  dataDir: string;
  /** Database holding the tables. @default 'ipvm' */
  database?: string;
}

const ADAPTER = 'chdb';

/**
 * Opens the embedded table store. Tables are created by `migrate()`.
 * @example
 * ```ts
 * await using store = createChdbTableStore({ dataDir });
 * await store.migrate();
 * ```
 */
export function createChdbTableStore(init: ChdbTableStoreInit): TableStore {
  if (typeof init.dataDir !== 'string' || init.dataDir.length === 0) {
    throw new TableStoreConfigError('dataDir is required', 'dataDir', ADAPTER);
  }
  const database = init.database ?? DEFAULT_DATABASE;
  try {
    quoteIdentifier(database);
  } catch (cause) {
    throw new TableStoreConfigError(String(cause), 'database', ADAPTER);
  }
  let session: Session | null;
  try {
    session = new Session(join(init.dataDir, 'clickhouse'));
  } catch (cause) {
    throw new TableStoreError(`cannot open the embedded engine: ${String(cause)}`, {
      adapter: ADAPTER,
      retryable: false,
      cause,
    });
  }
  let usingDatabase = false;
  let prepared = false;

  const live = (): Session => {
    if (session === null) throw new TableStoreClosedError(ADAPTER);
    return session;
  };

  const wrap = (cause: unknown, sql: string | undefined): TableStoreError => {
    if (cause instanceof TableStoreError) return cause;
    if (cause instanceof Error && cause.name === 'AbortError') {
      return new TableStoreError('aborted', { adapter: ADAPTER, retryable: true, sql, cause });
    }
    const message = cause instanceof Error ? cause.message : String(cause);
    const code =
      (cause as { clickhouseCode?: unknown } | null)?.clickhouseCode ?? clickhouseCode(message);
    return new TableQueryError(message.split('\n')[0] ?? message, {
      adapter: ADAPTER,
      sql,
      code: typeof code === 'number' ? code : undefined,
      cause,
    });
  };

  const run = async (sql: string, format: string, options?: CallOptions): Promise<string> => {
    const s = live();
    options?.signal?.throwIfAborted();
    await ensureDatabase(s, options);
    try {
      const result = await s.queryAsync(sql, { format, signal: options?.signal });
      return result.text();
    } catch (cause) {
      throw wrap(cause, sql);
    }
  };

  // Unqualified names in analysts' SQL resolve in our database once it exists.
  const ensureDatabase = async (s: Session, options?: CallOptions): Promise<void> => {
    if (usingDatabase) return;
    try {
      if (!prepared) {
        // JSON results carry 64-bit integers as numbers, as the server adapter asks for too.
        await s.queryAsync('SET output_format_json_quote_64bit_integers = 0');
        prepared = true;
      }
      const r = await s.queryAsync(`EXISTS DATABASE ${quoteIdentifier(database)}`, {
        format: 'TSV',
        signal: options?.signal,
      });
      if (r.text().trim() === '1') {
        await s.queryAsync(`USE ${quoteIdentifier(database)}`, { signal: options?.signal });
        usingDatabase = true;
      }
    } catch (cause) {
      throw wrap(cause, 'USE');
    }
  };

  const insertText = async (
    table: string,
    payload: string,
    options?: CallOptions,
  ): Promise<void> => {
    if (payload.length === 0) return;
    const s = live();
    options?.signal?.throwIfAborted();
    try {
      await s.insert({
        table: `${database}.${table}`,
        values: Buffer.from(payload),
        format: 'JSONEachRow',
        signal: options?.signal,
      });
    } catch (cause) {
      throw wrap(cause, `INSERT INTO ${database}.${table}`);
    }
  };
  const insert = async (
    table: string,
    rows: readonly object[],
    options?: CallOptions,
  ): Promise<void> => {
    if (rows.length > 0) await insertText(table, jsonEachRow(rows), options);
  };

  async function query<T>(sql: string, options?: QueryOptions): Promise<T[] | string> {
    const format = options?.format ?? 'json';
    const text = await run(sql, ENGINE_FORMAT[format], options);
    return format === 'json' ? parseJsonEachRow<T>(text) : text;
  }

  const close = async (): Promise<void> => {
    if (session === null) return;
    const s = session;
    session = null;
    s.close();
    // close() may defer the native teardown behind running calls; wait so the data directory
    // can be reopened by the next store in this process.
    await drainPending();
  };

  const store: TableStore = {
    kind: 'chdb',
    database,
    async migrate(options) {
      const version = (await run('SELECT version()', 'TSV', options)).trim();
      const caps = capabilitiesFor(version);
      for (const sql of createStatements(database, caps)) await run(sql, 'TSV', options);
      await ensureDatabase(live(), options);
    },
    async dropTables(options) {
      for (const sql of dropStatements(database)) await run(sql, 'TSV', options);
    },
    insertReceipts: (rows: readonly ReceiptRow[], options?: CallOptions) =>
      insert('receipts', rows, options),
    insertLineage: (rows: readonly LineageRow[], options?: CallOptions) =>
      insert('lineage', rows, options),
    upsertWorkflows: (rows: readonly WorkflowRow[], options?: CallOptions) =>
      insert('workflows', rows, options),
    async insertJsonEachRow(table, payload, options) {
      assertTable(table, ADAPTER);
      await insertText(table, payload, options);
    },
    query: query as TableStore['query'],
    async lookupMemo(instructionCids, options) {
      live();
      const cids = validCids(instructionCids, 'instructionCids', ADAPTER);
      if (cids.length === 0) return [];
      const text = await run(memoLookupSql(database, cids), 'JSONEachRow', options);
      return pickMemo(parseJsonEachRow<{ instruction_cid: string; memo: string }>(text));
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  return store;
}
