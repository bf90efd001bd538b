/**
 * The analysts' example queries documented in `schemas/clickhouse/README.md` (the README quotes
 * them verbatim; a test checks that it does and runs each one against both adapters). Table
 * names are unqualified: `ipvm sql` and `TableStore.query` resolve them in the store's database.
 *
 * `{cid}` marks where a CID goes; {@link withCid} fills it in after checking it is a plain
 * base32/base58 string.
 */

/** Memo hit rate by function: how often a receipt came from the memo instead of a run. */
export const MEMO_HIT_RATE_BY_FUNCTION = `SELECT
  function,
  count() AS receipts,
  countIf(replayed = 1) AS hits,
  round(hits / receipts, 3) AS hit_rate
FROM receipts FINAL
GROUP BY function
ORDER BY receipts DESC, function`;

/** Everything computed from a given input CID (a Wasm module, a data block, an instruction). */
export const COMPUTED_FROM_INPUT = `SELECT role, path, function, instruction_cid, receipt_cid, outcome, output_cid
FROM lineage FINAL
WHERE input_cid = '{cid}'
ORDER BY instruction_cid, path`;

/** Slowest functions by median and p99 execution time (executed receipts only). */
export const SLOWEST_FUNCTIONS = `SELECT
  function,
  count() AS runs,
  round(quantile(0.5)(duration_ms), 3) AS p50_ms,
  round(quantile(0.99)(duration_ms), 3) AS p99_ms,
  round(avg(fuel)) AS avg_fuel
FROM receipts FINAL
WHERE replayed = 0 AND duration_ms IS NOT NULL
GROUP BY function
ORDER BY p50_ms DESC, function
LIMIT 20`;

/** The receipts of one workflow, in the order they were produced. */
export const WORKFLOW_RECEIPTS = `SELECT at_ms, function, instruction_cid, receipt_cid, outcome, output, replayed
FROM receipts FINAL
WHERE workflow_cid = '{cid}'
ORDER BY at_ms, instruction_cid`;

/** A workflow's status folded from its lifecycle events. */
export const WORKFLOW_STATUS = `SELECT workflow_cid, status, tasks, receipts, failed_count, submitted_at_ms, ended_at_ms
FROM workflow_status
WHERE workflow_cid = '{cid}'`;

/** Fills `{cid}` in; throws for anything that is not a plain multibase string. */
export function withCid(sql: string, cid: string): string {
  if (!/^[A-Za-z0-9]+$/.test(cid)) throw new TypeError(`not a CID: ${JSON.stringify(cid)}`);
  return sql.replaceAll('{cid}', cid);
}
