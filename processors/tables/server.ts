// The server adapter: a ClickHouse server over HTTP through @clickhouse/client. It sends the
// same portable SQL as the embedded adapter (no query parameters, async_insert, Map,
// DateTime64 or TTL) so that it also runs against Debian's clickhouse-server 18.16; newer
// features (skip indexes, LowCardinality) are switched on from the server's version at migrate.
import { Readable } from 'node:stream';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import type { ClickHouseClient } from '@clickhouse/client';
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
  TableStoreUnavailableError,
} from './errors.ts';
import {
  assertTable,
  clickhouseCode,
  ENGINE_FORMAT,
  memoLookupSql,
  parseJsonEachRow,
  pickMemo,
  returnsRows,
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

/** Construction options of {@link createServerTableStore}. */
export interface ServerTableStoreInit {
  /** HTTP URL of the server, e.g. `http://127.0.0.1:8123` (user and password may be in it). */
  url: string;
  /** Database holding the tables. @default 'ipvm' */
  database?: string;
  /** Per-request timeout in ms. @default 30000 */
  requestTimeoutMs?: number;
}

/** @default 30000 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

const ADAPTER = 'server';

/** Node network error codes that mean "try again later". */
const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
]);

/**
 * Connects to a ClickHouse server (lazily: nothing is sent before the first call).
 * @example
 * ```ts
 * await using store = createServerTableStore({ url: 'http://127.0.0.1:8123' });
 * await store.migrate();
 * ```
 */
export function createServerTableStore(init: ServerTableStoreInit): TableStore {
  let url: URL;
  try {
    url = new URL(init.url);
  } catch (cause) {
    throw new TableStoreConfigError(`bad ClickHouse URL: ${String(cause)}`, 'url', ADAPTER);
  }
  const database = init.database ?? DEFAULT_DATABASE;
  try {
    quoteIdentifier(database);
  } catch (cause) {
    throw new TableStoreConfigError(String(cause), 'database', ADAPTER);
  }
  const safeUrl = `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  const username = decodeURIComponent(url.username) || undefined;
  const password = decodeURIComponent(url.password) || undefined;
  url.username = '';
  url.password = '';
  // The tables' database may not exist yet, so the client talks to `default` and every
  // statement we generate is database-qualified. Analysts' unqualified names are resolved
  // with a second client bound to our database once it exists.
  const settings = { output_format_json_quote_64bit_integers: 0 } as const;
  const common = {
    url: url.toString(),
    username,
    password,
    request_timeout: init.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    clickhouse_settings: settings,
    compression: { request: false, response: false },
    // Failures are reported through our errors, not the client's console logger.
    log: { level: ClickHouseLogLevel.OFF },
  };
  let admin: ClickHouseClient | null = createClient(common);
  let scoped: ClickHouseClient | null = createClient({ ...common, database });

  const live = (): { admin: ClickHouseClient; scoped: ClickHouseClient } => {
    if (admin === null || scoped === null) throw new TableStoreClosedError(ADAPTER);
    return { admin, scoped };
  };

  const wrap = (cause: unknown, sql: string | undefined): TableStoreError => {
    if (cause instanceof TableStoreError) return cause;
    const err = cause instanceof Error ? cause : new Error(String(cause));
    const code = (err as { code?: unknown }).code;
    if (err.name === 'AbortError' || /aborted/i.test(err.message)) {
      return new TableStoreError('aborted', { adapter: ADAPTER, retryable: true, sql, cause });
    }
    if (typeof code === 'string' && RETRYABLE_CODES.has(code)) {
      return new TableStoreUnavailableError(`ClickHouse at ${safeUrl}: ${err.message}`, {
        url: safeUrl,
        sql,
        cause,
      });
    }
    if (/timeout/i.test(err.message)) {
      return new TableStoreUnavailableError(`ClickHouse at ${safeUrl}: ${err.message}`, {
        url: safeUrl,
        sql,
        cause,
      });
    }
    const numeric = typeof code === 'string' && /^\d+$/.test(code) ? Number(code) : undefined;
    return new TableQueryError(err.message.split('\n')[0] ?? err.message, {
      adapter: ADAPTER,
      sql,
      code: numeric ?? clickhouseCode(err.message),
      cause,
    });
  };

  const command = async (sql: string, options?: CallOptions): Promise<void> => {
    const c = live().admin;
    options?.signal?.throwIfAborted();
    try {
      await c.command({ query: sql, abort_signal: options?.signal });
    } catch (cause) {
      throw wrap(cause, sql);
    }
  };

  // `exec` lets us name any output format (the client's own `query` refuses Pretty formats).
  const text = async (
    client: ClickHouseClient,
    sql: string,
    format: string,
    options?: CallOptions,
  ): Promise<string> => {
    options?.signal?.throwIfAborted();
    const body = sql.trim().replace(/;+\s*$/, '');
    try {
      const { stream } = await client.exec({
        query: `${body}\nFORMAT ${format}`,
        abort_signal: options?.signal,
      });
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    } catch (cause) {
      throw wrap(cause, sql);
    }
  };

  let databaseExists = false;
  const clientFor = async (options?: CallOptions): Promise<ClickHouseClient> => {
    const clients = live();
    if (!databaseExists) {
      const exists = await text(
        clients.admin,
        `EXISTS DATABASE ${quoteIdentifier(database)}`,
        'TSV',
        options,
      ).catch(async () =>
        // 18.16 has no EXISTS DATABASE.
        text(
          clients.admin,
          `SELECT count() FROM system.databases WHERE name = '${database}'`,
          'TSV',
          options,
        ),
      );
      databaseExists = exists.trim() === '1';
    }
    return databaseExists ? clients.scoped : clients.admin;
  };

  const insert = async (
    table: string,
    rows: readonly object[],
    options?: CallOptions,
  ): Promise<void> => {
    if (rows.length === 0) return;
    const c = live().admin;
    options?.signal?.throwIfAborted();
    try {
      await c.insert({
        table: `${database}.${table}`,
        values: rows,
        format: 'JSONEachRow',
        abort_signal: options?.signal,
      });
    } catch (cause) {
      throw wrap(cause, `INSERT INTO ${database}.${table}`);
    }
  };

  const insertText = async (
    table: string,
    payload: string,
    options?: CallOptions,
  ): Promise<void> => {
    if (payload.length === 0) return;
    const c = live().admin;
    options?.signal?.throwIfAborted();
    try {
      // Pre-serialised rows: `exec` sends the bytes as they are (`insert` wants objects).
      const { stream } = await c.exec({
        query: `INSERT INTO ${database}.${table} FORMAT JSONEachRow`,
        values: Readable.from([Buffer.from(payload)], { objectMode: false }),
        abort_signal: options?.signal,
      });
      for await (const _ of stream) {
        // drain the (empty) response so the socket returns to the pool
      }
    } catch (cause) {
      throw wrap(cause, `INSERT INTO ${database}.${table}`);
    }
  };

  async function query<T>(sql: string, options?: QueryOptions): Promise<T[] | string> {
    const format = options?.format ?? 'json';
    const client = await clientFor(options);
    if (!returnsRows(sql)) {
      // DDL, INSERT … SELECT, OPTIMIZE: nothing to format.
      options?.signal?.throwIfAborted();
      try {
        await client.command({ query: sql, abort_signal: options?.signal });
      } catch (cause) {
        throw wrap(cause, sql);
      }
      return format === 'json' ? [] : '';
    }
    const out = await text(client, sql, ENGINE_FORMAT[format], options);
    return format === 'json' ? parseJsonEachRow<T>(out) : out;
  }

  const close = async (): Promise<void> => {
    const clients = [admin, scoped].filter((c): c is ClickHouseClient => c !== null);
    admin = null;
    scoped = null;
    await Promise.all(clients.map((c) => c.close()));
  };

  return {
    kind: 'server',
    database,
    async migrate(options) {
      const version = (await text(live().admin, 'SELECT version()', 'TSV', options)).trim();
      for (const sql of createStatements(database, capabilitiesFor(version))) {
        await command(sql, options);
      }
      databaseExists = true;
    },
    async dropTables(options) {
      for (const sql of dropStatements(database)) await command(sql, options);
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
      const out = await text(live().admin, memoLookupSql(database, cids), 'JSONEachRow', options);
      return pickMemo(parseJsonEachRow<{ instruction_cid: string; memo: string }>(out));
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
