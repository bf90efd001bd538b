/**
 * Memo search for the console: by instruction CID, receipt CID, output CID (which instructions
 * produced this value) or function name. Answered from the in-process memo, or from the
 * ClickHouse `receipts` table when the node indexes its tables (then it covers every receipt
 * ever written, not only this process's memo).
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import { cidOf } from '../../schemas/cid.ts';
import type { Memo, MemoEntry } from '../engine/memo.ts';
import type { TableStore } from '../tables/table-store.ts';

/** One hit. */
export interface MemoHit {
  /** Which field matched. */
  match: 'instruction' | 'receipt' | 'output' | 'function';
  instruction: string;
  receipt: string;
  outputCid: string;
  /** The function (Wasm) or op (effects), from the receipt's `meta.op`. */
  func: string;
  outcome: 'ok' | 'error';
}

/** The answer of a search. */
export interface MemoSearchResult {
  source: 'memo' | 'tables';
  query: string;
  hits: MemoHit[];
  /** True when more hits exist than were returned. */
  truncated: boolean;
}

/** @default 50 */
export const DEFAULT_SEARCH_LIMIT = 50;

const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_\-.:/]{0,127}$/;

/** Thrown for a query that is neither a CID nor a function name. */
export class SearchQueryError extends Error {
  override name = 'SearchQueryError';
  readonly retryable = false;
}

function funcOf(entry: MemoEntry): string {
  const meta = entry.body.meta as { op?: unknown } | null;
  return typeof meta?.op === 'string' ? meta.op : '';
}

/** Searches; see the module comment. */
export interface MemoSearch {
  search(
    query: string,
    options?: { limit?: number; signal?: AbortSignal },
  ): Promise<MemoSearchResult>;
}

/** Creates the search over a memo, or over the tables when given. */
export function createMemoSearch(init: { memo: Memo; tables?: TableStore }): MemoSearch {
  // Output CIDs cost a hash each: computed once per memo entry, on the first search that needs it.
  const outputCids = new WeakMap<MemoEntry, string>();
  const outputCid = (e: MemoEntry): string => {
    let cid = outputCids.get(e);
    if (cid === undefined) outputCids.set(e, (cid = cidOf(e.body.out[1]).toString()));
    return cid;
  };
  return {
    async search(raw, options = {}) {
      const query = raw.trim();
      const limit = options.limit ?? DEFAULT_SEARCH_LIMIT;
      let cid: CID | null;
      try {
        cid = CID.parse(query);
      } catch {
        cid = null;
      }
      if (cid === null && !FUNCTION_NAME.test(query))
        throw new SearchQueryError(
          `query ${JSON.stringify(query.slice(0, 80))} is neither a CID nor a function name`,
        );
      if (init.tables !== undefined) {
        // The query is a parsed CID or a plain identifier: safe to inline (old servers have no
        // query parameters).
        const q = cid === null ? query : cid.toString();
        const rows = await init.tables.query<{
          instruction_cid: string;
          receipt_cid: string;
          output_cid: string;
          function: string;
          op: string;
          outcome: 'ok' | 'error';
        }>(
          `SELECT DISTINCT instruction_cid, receipt_cid, output_cid, function, op, outcome FROM receipts ` +
            `WHERE instruction_cid = '${q}' OR receipt_cid = '${q}' OR output_cid = '${q}' OR function = '${q}' OR op = '${q}' ` +
            `LIMIT ${limit + 1}`,
          { signal: options.signal },
        );
        return {
          source: 'tables',
          query,
          truncated: rows.length > limit,
          hits: rows.slice(0, limit).map((r) => ({
            match:
              r.instruction_cid === q
                ? 'instruction'
                : r.receipt_cid === q
                  ? 'receipt'
                  : r.output_cid === q
                    ? 'output'
                    : 'function',
            instruction: r.instruction_cid,
            receipt: r.receipt_cid,
            outputCid: r.output_cid,
            func: r.function === '' ? r.op : r.function,
            outcome: r.outcome,
          })),
        };
      }
      const hits: MemoHit[] = [];
      const hit = (match: MemoHit['match'], e: MemoEntry): void => {
        hits.push({
          match,
          instruction: e.instruction.toString(),
          receipt: e.receipt.toString(),
          outputCid: outputCid(e),
          func: funcOf(e),
          outcome: e.body.out[0],
        });
      };
      const q = cid?.toString();
      if (q !== undefined) {
        const direct = init.memo.get(q);
        if (direct !== undefined) hit('instruction', direct);
      }
      for (const e of init.memo.entries()) {
        if (hits.length > limit) break;
        options.signal?.throwIfAborted();
        if (q === undefined) {
          if (funcOf(e) === query) hit('function', e);
        } else if (e.receipt.toString() === q) hit('receipt', e);
        else if (outputCid(e) === q) hit('output', e);
      }
      return { source: 'memo', query, truncated: hits.length > limit, hits: hits.slice(0, limit) };
    },
  };
}
