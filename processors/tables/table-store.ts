/**
 * The table store: the ClickHouse side of the node — the global memoization table and the
 * reverse lookup ("given this content, what has been computed from it, and what came out?").
 *
 * The tables are a *projection of the streams*: every row is derived from a receipt or workflow
 * event by the pure functions in `rows.ts`, so the tables can be dropped and rebuilt by replay
 * (`rebuild.ts`). They are never on the per-task hot path: a point query costs milliseconds,
 * the engine's in-process memo microseconds.
 *
 * Two adapters implement this contract: `createChdbTableStore` (embedded ClickHouse, the
 * default, no server) and `createServerTableStore` (a ClickHouse server over HTTP, portable down
 * to Debian's 18.16). One conformance suite (`test/conformance/table-store.suite.ts`) runs
 * against both.
 *
 * Row objects use the tables' column names (snake_case) so they go to the engine as
 * `JSONEachRow` without a mapping step.
 *
 * @example
 * ```ts
 * await using store = await createChdbTableStore({ dataDir: '/var/lib/ipvm' });
 * await store.migrate();
 * await store.insertReceipts(rows.map((r) => r.receipt));
 * const hits = await store.lookupMemo([instructionCid]);
 * const top = await store.query('SELECT function, count() AS n FROM receipts GROUP BY function');
 * ```
 */

import type { TableName } from '../../schemas/clickhouse/ddl.ts';

export type { TableName };

/** Options accepted by every call of the store. */
export interface CallOptions {
  /** Aborts the call. The engine may finish the statement in the background. */
  signal?: AbortSignal;
}

/** Output formats of {@link TableStore.query}. */
export type QueryFormat = 'json' | 'csv' | 'table';

/** Options of {@link TableStore.query}. */
export interface QueryOptions extends CallOptions {
  /**
   * `json`: rows parsed into objects (64-bit integers as JS numbers);
   * `csv`: CSV text with a header line; `table`: a human-readable text table.
   * @default 'json'
   */
  format?: QueryFormat;
}

/**
 * One row of the `receipts` table (the global memo): one per receipt event. Re-indexing the
 * same event yields the same row; the table's sort key collapses the duplicate.
 */
export interface ReceiptRow {
  /** CID of the instruction (the memo key). */
  instruction_cid: string;
  /** CID of the receipt. */
  receipt_cid: string;
  /** CID of the invocation the receipt ran (`Receipt.ran`). */
  invocation_cid: string;
  /** CID of the workflow the task belonged to; `''` for a single task. */
  workflow_cid: string;
  /** The instruction's `op`, e.g. `wasm/run`. */
  op: string;
  /** The called function (`input.func`). */
  function: string;
  /** CID of the instruction's resource (`rsc` without its `ipfs://` scheme). */
  resource_cid: string;
  /** Whether the receipt's `out` is `ok` or `error`. */
  outcome: 'ok' | 'error';
  /** The output value (the second element of `out`) as DAG-JSON text. */
  output: string;
  /** CID of the DAG-CBOR encoding of the output value (sha3-256, dag-cbor). */
  output_cid: string;
  /** Fuel spent, when the executor measured it. */
  fuel: number | null;
  /** Wall-clock execution time in ms, when known. */
  duration_ms: number | null;
  /** Identifier of the node that produced (or replayed) the receipt. */
  executor: string;
  /** Time of the event, ms since the epoch. */
  at_ms: number;
  /** 1 when the receipt came from the memo instead of an execution. */
  replayed: 0 | 1;
}

/**
 * One row of the `lineage` table (reverse lookup): one per CID the instruction consumed — its
 * resource, and every CID link found in its arguments.
 */
export interface LineageRow {
  /** The consumed CID. */
  input_cid: string;
  /** `resource` for the instruction's `rsc`, `arg` for a link inside `input.args`. */
  role: 'resource' | 'arg';
  /** Where the link was found: `rsc`, or a slash path under `args`, e.g. `args/0/await/ok`. */
  path: string;
  /** CID of the instruction that consumed it. */
  instruction_cid: string;
  /** CID of the receipt of that instruction. */
  receipt_cid: string;
  /** CID of the output value of that receipt. */
  output_cid: string;
  /** The called function. */
  function: string;
  /** The receipt's outcome. */
  outcome: 'ok' | 'error';
}

/** Lifecycle events recorded in the `workflows` table. */
export type WorkflowEvent = 'submitted' | 'completed' | 'failed';

/**
 * One row of the `workflows` table: one per workflow lifecycle event. The view
 * `workflow_status` folds them into one row per workflow.
 */
export interface WorkflowRow {
  /** CID of the workflow. */
  workflow_cid: string;
  /** Which lifecycle event this row records. */
  event: WorkflowEvent;
  /** Number of tasks (from the submission; 0 on end events). */
  task_count: number;
  /** Number of receipts (from the end event; 0 on submission). */
  receipt_count: number;
  /** Instruction CIDs of the failed tasks (end events). */
  failed: string[];
  /** Time of the event, ms since the epoch. */
  at_ms: number;
}

/** One hit of {@link TableStore.lookupMemo}: the chosen receipt for an instruction. */
export interface MemoEntry {
  /** The instruction CID that was looked up. */
  instruction_cid: string;
  /** CID of the receipt found. */
  receipt_cid: string;
  /** CID of the invocation the receipt ran. */
  invocation_cid: string;
  /** `ok` or `error`. */
  outcome: 'ok' | 'error';
  /** Output value as DAG-JSON text. */
  output: string;
  /** CID of the output value. */
  output_cid: string;
  /** Executor that produced the receipt. */
  executor: string;
  /** When it was produced, ms since the epoch. */
  at_ms: number;
}

/** What an adapter is: the embedded engine or a server. */
export type TableStoreKind = 'chdb' | 'server';

/**
 * The table-store contract. Obtain one from `createChdbTableStore` or `createServerTableStore`.
 * Every method rejects with a `TableStoreError` (see `errors.ts`) classified retryable or
 * terminal; after {@link TableStore.close} every method rejects with `TableStoreClosedError`.
 */
export interface TableStore extends AsyncDisposable {
  /** Which adapter this is. */
  readonly kind: TableStoreKind;
  /** The ClickHouse database holding the tables. */
  readonly database: string;

  /**
   * Creates the database, the tables and views if they do not exist (idempotent; safe to call
   * on every start). Must be called before inserting.
   */
  migrate(options?: CallOptions): Promise<void>;

  /**
   * Drops the tables and views (data included). Used by the rebuild; follow with
   * {@link TableStore.migrate}.
   */
  dropTables(options?: CallOptions): Promise<void>;

  /**
   * Inserts receipt rows in one statement. Re-inserting rows already present changes nothing
   * visible to queries that use `FINAL` or aggregate (duplicates collapse on merge).
   */
  insertReceipts(rows: readonly ReceiptRow[], options?: CallOptions): Promise<void>;

  /** Inserts lineage rows in one statement; idempotent like {@link TableStore.insertReceipts}. */
  insertLineage(rows: readonly LineageRow[], options?: CallOptions): Promise<void>;

  /**
   * Records workflow lifecycle rows in one statement; the view `workflow_status` folds them
   * into one row per workflow. Idempotent.
   */
  upsertWorkflows(rows: readonly WorkflowRow[], options?: CallOptions): Promise<void>;

  /**
   * Inserts rows already serialised as `JSONEachRow` (one JSON object per line, column names
   * as keys) in one statement — what the indexer's row mapper produces, so rows need not be
   * materialised as objects on the inserting thread. Same idempotence as the typed inserts.
   * @example
   * ```ts
   * await store.insertJsonEachRow('receipts', rows.map((r) => JSON.stringify(r)).join('\n'));
   * ```
   */
  insertJsonEachRow(table: TableName, payload: string, options?: CallOptions): Promise<void>;

  /**
   * Runs any SQL (unqualified table names resolve in {@link TableStore.database}).
   * With `format: 'json'` (the default) resolves to the rows as objects; with `csv` or `table`
   * to text.
   * @example
   * ```ts
   * const rows = await store.query<{ function: string; n: number }>(
   *   'SELECT function, count() AS n FROM receipts FINAL GROUP BY function',
   * );
   * ```
   */
  query<T = Record<string, unknown>>(
    sql: string,
    options?: QueryOptions & { format?: 'json' },
  ): Promise<T[]>;
  /** Runs any SQL and resolves to CSV (with a header) or a text table. */
  query(sql: string, options: QueryOptions & { format: 'csv' | 'table' }): Promise<string>;

  /**
   * Looks up many instruction CIDs in ONE query (`WHERE instruction_cid IN (…)`). Resolves to
   * one entry per instruction found (absent ones are simply missing), preferring a receipt
   * that was executed over a replayed one, then the earliest. Rejects with `InvalidCidError`
   * for a string that is not a CID.
   */
  lookupMemo(instructionCids: readonly string[], options?: CallOptions): Promise<MemoEntry[]>;

  /** Releases the engine or the connection pool. Idempotent. */
  close(): Promise<void>;

  /** Same as {@link TableStore.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The database used when none is given. @default 'ipvm' */
export const DEFAULT_DATABASE = 'ipvm';
