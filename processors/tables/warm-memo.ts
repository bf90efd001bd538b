/**
 * Global-memo warm-up for a node that joins late: looks instruction CIDs up in the shared
 * tables in batches (one `IN (…)` query per batch) and returns the receipts found. Meant for
 * start-up or prefetching a workflow's tasks, never the per-task path.
 *
 * @module
 */
import type { MemoEntry, TableStore } from './table-store.ts';

/** Instruction CIDs per lookup query. @default 1000 */
export const DEFAULT_WARM_BATCH_SIZE = 1000;

/** Options of {@link warmMemo}. */
export interface WarmMemoOptions {
  /** CIDs per query. @default 1000 */
  batchSize?: number;
  /** Aborts between (and during) batches. */
  signal?: AbortSignal;
  /** Called after each batch with the running totals. */
  onProgress?: (event: { type: 'memo:warmed'; looked: number; found: number }) => void;
}

/**
 * Looks up every CID (duplicates once) and returns the entries found, keyed by instruction CID.
 * @example
 * ```ts
 * const found = await warmMemo(store, workflowInstructionCids);
 * for (const [cid, entry] of found) memo.seed(cid, entry);
 * ```
 */
export async function warmMemo(
  store: TableStore,
  instructionCids: Iterable<string>,
  options: WarmMemoOptions = {},
): Promise<Map<string, MemoEntry>> {
  const batchSize = options.batchSize ?? DEFAULT_WARM_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    throw new RangeError('batchSize must be a positive integer');
  }
  const unique = [...new Set(instructionCids)];
  const found = new Map<string, MemoEntry>();
  for (let i = 0; i < unique.length; i += batchSize) {
    options.signal?.throwIfAborted();
    const entries = await store.lookupMemo(unique.slice(i, i + batchSize), {
      signal: options.signal,
    });
    for (const e of entries) found.set(e.instruction_cid, e);
    options.onProgress?.({
      type: 'memo:warmed',
      looked: Math.min(i + batchSize, unique.length),
      found: found.size,
    });
  }
  return found;
}
