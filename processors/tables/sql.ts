// SQL shared by both adapters: kept to the subset a 2018 server (18.16) understands, so both
// adapters send the same text (no query parameters, no Map, no DateTime64).
import { CID } from 'multiformats/cid';
import { MEMO_FIELDS, quoteIdentifier, TABLES } from '../../schemas/clickhouse/ddl.ts';
import type { MemoEntry } from './table-store.ts';
import { InvalidCidError, TableStoreConfigError } from './errors.ts';

/** Checks a table name given at run time is one of ours. */
export function assertTable(table: string, adapter: string): void {
  if (!(TABLES as readonly string[]).includes(table)) {
    throw new TableStoreConfigError(`unknown table ${JSON.stringify(table)}`, 'table', adapter);
  }
}

/** Checks that every value parses as a CID and returns them de-duplicated. */
export function validCids(values: readonly string[], field: string, adapter: string): string[] {
  const seen = new Set<string>();
  values.forEach((v, i) => {
    if (seen.has(v)) return;
    try {
      if (typeof v !== 'string' || v.length > 200) throw new Error('bad');
      CID.parse(v);
    } catch {
      throw new InvalidCidError(String(v), `${field}[${i}]`, adapter);
    }
    seen.add(v);
  });
  return [...seen];
}

/**
 * A SQL string literal. CIDs are validated before they get here; the escaping is the second
 * line of defence.
 */
export function literal(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/**
 * One batched memo lookup. It reads only `instruction_cid` and the `memo` column (see
 * `MEMO_EXPRESSION`); the receipt to return per instruction is chosen by {@link pickMemo}.
 */
export function memoLookupSql(database: string, cids: readonly string[]): string {
  const db = quoteIdentifier(database);
  return `SELECT instruction_cid, memo
FROM ${db}.receipts
WHERE instruction_cid IN (${cids.map(literal).join(', ')})`;
}

/**
 * One entry per instruction from the rows of {@link memoLookupSql}: the executed receipt before
 * a replayed one, then the earliest, then the smallest receipt CID (duplicates of one event are
 * identical, so no FINAL is needed).
 */
export function pickMemo(
  rows: ReadonlyArray<{ instruction_cid: string; memo: string }>,
): MemoEntry[] {
  const best = new Map<string, { entry: MemoEntry; replayed: number }>();
  for (const row of rows) {
    const f = row.memo.split('\t');
    const n = MEMO_FIELDS.length;
    if (f.length < n) continue;
    const entry: MemoEntry = {
      instruction_cid: row.instruction_cid,
      receipt_cid: f[0]!,
      invocation_cid: f[1]!,
      outcome: f[2] === 'error' ? 'error' : 'ok',
      output: f.slice(n - 1).join('\t'),
      output_cid: f[3]!,
      executor: f[4]!,
      at_ms: Number(f[5]),
    };
    const replayed = Number(f[6]);
    const seen = best.get(row.instruction_cid);
    if (
      seen === undefined ||
      replayed < seen.replayed ||
      (replayed === seen.replayed &&
        (entry.at_ms < seen.entry.at_ms ||
          (entry.at_ms === seen.entry.at_ms && entry.receipt_cid < seen.entry.receipt_cid)))
    ) {
      best.set(row.instruction_cid, { entry, replayed });
    }
  }
  return [...best.values()].map((b) => b.entry);
}

/** Rows as a JSONEachRow payload (one JSON object per line). */
export function jsonEachRow(rows: readonly object[]): string {
  let out = '';
  for (const row of rows) out += JSON.stringify(row) + '\n';
  return out;
}

/** The engine's output format for each `QueryFormat`. */
export const ENGINE_FORMAT = {
  json: 'JSONEachRow',
  csv: 'CSVWithNames',
  table: 'PrettyCompactNoEscapes',
} as const;

/** Parses a JSONEachRow result. */
export function parseJsonEachRow<T>(text: string): T[] {
  const rows: T[] = [];
  for (const line of text.split('\n')) {
    if (line.length > 0) rows.push(JSON.parse(line) as T);
  }
  return rows;
}

/** ClickHouse's `Code: N` from an error message, when present. */
export function clickhouseCode(message: string): number | undefined {
  const m = /Code: (\d+)/.exec(message);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/**
 * Whether a statement returns a result set (so an output format can be appended). Leading
 * comments and parentheses are skipped.
 */
export function returnsRows(sql: string): boolean {
  const head = sql
    .replace(/^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/|\()*/, '')
    .slice(0, 10)
    .toUpperCase();
  return /^(SELECT|WITH|SHOW|DESC|DESCRIBE|EXISTS|EXPLAIN)\b/.test(head);
}
