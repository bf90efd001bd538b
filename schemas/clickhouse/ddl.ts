/**
 * DDL of the ClickHouse tables (the memo table, the reverse lookup and the workflows), as SQL
 * text. One source for both adapters: what a given engine supports is passed in as
 * {@link Capabilities}, so the same tables are created on an embedded chdb (ClickHouse 26) and
 * on a 2018 server (18.16, Debian's package).
 *
 * Idempotence: every table is a `ReplacingMergeTree` whose sort key identifies the event a row
 * comes from, so re-indexing the same events leaves the same rows (duplicates collapse on merge;
 * queries that could see them use `FINAL`, `LIMIT 1 BY` or idempotent aggregates).
 */

/** What the target engine supports; see {@link capabilitiesFor}. */
export interface Capabilities {
  /** Data-skipping indexes (`INDEX … TYPE bloom_filter`), generally available from 20.x. */
  skipIndexes: boolean;
  /** The `LowCardinality(String)` type (experimental in 18.x). */
  lowCardinality: boolean;
  /** Per-table compression block sizes (`min_compress_block_size` as a MergeTree setting). */
  tableCompressBlock: boolean;
  /**
   * The `DateTime64` type (from 20.x): the materialized `at` columns keep milliseconds. Without
   * it (18.16) `at` is a `DateTime` in seconds, and `at_ms` (`UInt64` ms, in every table) is the
   * portable timestamp.
   */
  dateTime64: boolean;
}

/**
 * The `receipts.memo` column: what a memo lookup returns, in one column, so a batched lookup
 * reads two columns per row (`instruction_cid`, `memo`) instead of eight — half the time on 1 M
 * receipts. Tab-separated, the output (DAG-JSON, which never holds a raw tab) last; see
 * {@link MEMO_FIELDS}. Computed by the engine, so rows and `SELECT *` do not include it.
 */
export const MEMO_EXPRESSION =
  "concat(receipt_cid, '\\t', invocation_cid, '\\t', toString(outcome), '\\t', output_cid, '\\t', " +
  "replaceAll(executor, '\\t', ' '), '\\t', toString(at_ms), '\\t', toString(replayed), '\\t', output)";

/** Field order of {@link MEMO_EXPRESSION}. */
export const MEMO_FIELDS = [
  'receipt_cid',
  'invocation_cid',
  'outcome',
  'output_cid',
  'executor',
  'at_ms',
  'replayed',
  'output',
] as const;

/** The tables and views, in creation order. */
export const TABLES = ['receipts', 'lineage', 'workflows', 'verification_mismatches'] as const;
/** Views over the tables. */
export const VIEWS = ['workflow_status'] as const;

/** Name of a table created by {@link createStatements}. */
export type TableName = (typeof TABLES)[number];

/**
 * Capabilities of a ClickHouse version string such as `18.16.1` or `26.7.2.1`.
 * @example capabilitiesFor('18.16.1') // { skipIndexes: false, lowCardinality: false, tableCompressBlock: false, dateTime64: false }
 */
export function capabilitiesFor(version: string): Capabilities {
  const major = Number.parseInt(version.replace(/^"|"$/g, '').split('.')[0] ?? '0', 10);
  const modern = Number.isFinite(major) && major >= 20;
  return {
    skipIndexes: modern,
    lowCardinality: modern,
    tableCompressBlock: modern,
    dateTime64: modern,
  };
}

/** A safe SQL identifier (database names come from configuration). */
export function quoteIdentifier(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new TypeError(`not a plain identifier: ${JSON.stringify(name)}`);
  }
  return `\`${name}\``;
}

/**
 * The statements that create the database, tables and views (each `IF NOT EXISTS`), in order.
 * @param database target database (plain identifier)
 */
export function createStatements(database: string, caps: Capabilities): string[] {
  const db = quoteIdentifier(database);
  const lc = (t: string): string => (caps.lowCardinality ? `LowCardinality(${t})` : t);
  const idx = (s: string): string => (caps.skipIndexes ? `,\n  ${s}` : '');
  // `at_ms` as a time for analysts: milliseconds where the engine has DateTime64, else seconds.
  const at = caps.dateTime64
    ? "at DateTime64(3, 'UTC') MATERIALIZED fromUnixTimestamp64Milli(toInt64(at_ms), 'UTC')"
    : "at DateTime('UTC') MATERIALIZED toDateTime(intDiv(at_ms, 1000), 'UTC')";
  // Compression blocks near one granule, so a point read decompresses little beyond its rows.
  const lookupSettings = `index_granularity = 256${caps.tableCompressBlock ? ', min_compress_block_size = 4096' : ''}`;
  return [
    `CREATE DATABASE IF NOT EXISTS ${db}`,

    // The global memo: one row per receipt and workflow (whoever wrote it). Its sort key prefix
    // `instruction_cid` makes memo lookups a range scan of the primary index. Small granules:
    // a batch of 1 000 random CIDs touches ~1 000 granules, so their size sets the rows read
    // (1 M receipts: 1024 → 63% of the table, 256 → 23%; measured 3.6× faster).
    `CREATE TABLE IF NOT EXISTS ${db}.receipts (
  instruction_cid String,
  receipt_cid String,
  invocation_cid String,
  workflow_cid String,
  op ${lc('String')},
  function ${lc('String')},
  resource_cid String,
  outcome Enum8('ok' = 1, 'error' = 2),
  output String,
  output_cid String,
  fuel Nullable(UInt64),
  duration_ms Nullable(Float64),
  executor ${lc('String')},
  at_ms UInt64,
  replayed UInt8,
  ${at},
  memo String MATERIALIZED ${MEMO_EXPRESSION}${idx(
    'INDEX receipts_receipt receipt_cid TYPE bloom_filter GRANULARITY 4',
  )}${idx('INDEX receipts_workflow workflow_cid TYPE bloom_filter GRANULARITY 4')}${idx(
    'INDEX receipts_output output_cid TYPE bloom_filter GRANULARITY 4',
  )}
) ENGINE = ReplacingMergeTree
ORDER BY (instruction_cid, receipt_cid, workflow_cid, replayed)
SETTINGS ${lookupSettings}`,

    // Reverse lookup: input CID -> what consumed it and what came out. Sort key prefix
    // `input_cid` makes "everything computed from X" a range scan.
    `CREATE TABLE IF NOT EXISTS ${db}.lineage (
  input_cid String,
  role Enum8('resource' = 1, 'arg' = 2),
  path String,
  instruction_cid String,
  receipt_cid String,
  output_cid String,
  function ${lc('String')},
  outcome Enum8('ok' = 1, 'error' = 2)${idx(
    'INDEX lineage_instruction instruction_cid TYPE bloom_filter GRANULARITY 4',
  )}${idx('INDEX lineage_output output_cid TYPE bloom_filter GRANULARITY 4')}
) ENGINE = ReplacingMergeTree
ORDER BY (input_cid, instruction_cid, receipt_cid, path)
SETTINGS ${lookupSettings}`,

    // Workflow lifecycle: one row per event; `workflow_status` folds them per workflow.
    `CREATE TABLE IF NOT EXISTS ${db}.workflows (
  workflow_cid String,
  event Enum8('submitted' = 1, 'completed' = 2, 'failed' = 3),
  task_count UInt32,
  receipt_count UInt32,
  failed Array(String),
  at_ms UInt64,
  ${at}
) ENGINE = ReplacingMergeTree
ORDER BY (workflow_cid, event)`,

    // Verification mismatches (the \`verification\` stream): one row per disagreement, for
    // analysts — which instructions, which executors, which outputs.
    `CREATE TABLE IF NOT EXISTS ${db}.verification_mismatches (
  instruction_cid String,
  kind Enum8('optimistic' = 1, 'reexecute' = 2),
  receipt_cid String,
  resource String,
  function ${lc('String')},
  executors Array(String),
  outcomes Array(String),
  output_cids Array(String),
  reason String,
  at_ms UInt64,
  ${at}
) ENGINE = ReplacingMergeTree
ORDER BY (instruction_cid, kind, at_ms)`,

    // Every aggregate here is idempotent under duplicate rows, so no FINAL is needed.
    `CREATE VIEW IF NOT EXISTS ${db}.workflow_status AS
SELECT
  workflow_cid,
  multiIf(countIf(event = 'failed') > 0, 'failed',
          countIf(event = 'completed') > 0, 'completed', 'running') AS status,
  max(task_count) AS tasks,
  max(receipt_count) AS receipts,
  groupUniqArrayArray(failed) AS failed_tasks,
  length(groupUniqArrayArray(failed)) AS failed_count,
  minIf(at_ms, event = 'submitted') AS submitted_at_ms,
  maxIf(at_ms, event != 'submitted') AS ended_at_ms
FROM ${db}.workflows
GROUP BY workflow_cid`,
  ];
}

/** The statements that drop the views and tables (each `IF EXISTS`). */
export function dropStatements(database: string): string[] {
  const db = quoteIdentifier(database);
  return [
    ...VIEWS.map((v) => `DROP TABLE IF EXISTS ${db}.${v}`),
    ...TABLES.map((t) => `DROP TABLE IF EXISTS ${db}.${t}`),
  ];
}
