/**
 * The `verification_mismatches` table: rows from `verification/mismatch` events of the
 * `verification` stream, indexed from the tables consumer's committed positions (catch-up) or
 * from the start (after a rebuild). Small and rare, so no batching beyond one insert per call.
 *
 * @module
 */
import { decodeEvent } from '../../schemas/events.ts';
import type { VerificationMismatchEvent } from '../../schemas/job-events.ts';
import type { Log, LogRecord, Positions } from '../../streams/log.ts';
import type { TableStore } from './table-store.ts';

/** One row of `verification_mismatches`. */
export interface MismatchRow {
  instruction_cid: string;
  kind: 'optimistic' | 'reexecute';
  /** The recorded receipt a re-execution contradicts; `''` for optimistic runs. */
  receipt_cid: string;
  /** The instruction's `rsc`. */
  resource: string;
  function: string;
  /** Executors, outcomes and output CIDs, in the same order. */
  executors: string[];
  outcomes: string[];
  output_cids: string[];
  reason: string;
  at_ms: number;
}

/** The row of a mismatch event. */
export function mismatchRow(e: VerificationMismatchEvent): MismatchRow {
  return {
    instruction_cid: e.instruction?.toString() ?? '',
    kind: e.kind,
    receipt_cid: e.receipt?.toString() ?? '',
    resource: e.rsc,
    function: e.func,
    executors: e.executions.map((x) => x.executor),
    outcomes: e.executions.map((x) => x.outcome),
    output_cids: e.executions.map((x) => x.output.toString()),
    reason: e.reason,
    at_ms: e.at,
  };
}

/** Options of {@link indexMismatches}. */
export interface IndexMismatchesInit {
  log: Log;
  store: TableStore;
  /** Full name of the `verification` stream. */
  stream: string;
  /** @default 'ipvm-tables' */
  consumer?: string;
  /** Index from offset 0 (after a rebuild) instead of the committed positions. */
  fromStart?: boolean;
  /** Keeps a record (a replay range); positions are not committed when given. */
  filter?: (record: LogRecord) => boolean;
  signal?: AbortSignal;
}

/** Indexes mismatches up to the end of the stream; returns the number of rows inserted. */
export async function indexMismatches(init: IndexMismatchesInit): Promise<number> {
  const { log, store, stream, signal } = init;
  const consumer = init.consumer ?? 'ipvm-tables';
  await log.ensureStreams([{ name: stream, partitions: 1 }], { signal });
  const committed =
    init.fromStart === true ? {} : await log.committed(consumer, stream, { signal });
  const partitions = await log.partitions(stream, { signal });
  const rows: string[] = [];
  const next: Positions = {};
  for (let partition = 0; partition < partitions; partition++) {
    const from = committed[partition] ?? 0;
    next[partition] = from;
    for await (const record of log.read(stream, { partition, from, signal })) {
      next[partition] = record.offset + 1;
      if (init.filter !== undefined && !init.filter(record)) continue;
      try {
        const e = decodeEvent(record.value);
        if (e.type === 'verification/mismatch') rows.push(JSON.stringify(mismatchRow(e)));
      } catch {
        // undecodable records are the dead-letter stream's business, not the table's
      }
    }
  }
  await store.migrate({ signal });
  if (rows.length > 0)
    await store.insertJsonEachRow('verification_mismatches', rows.join('\n'), { signal });
  if (init.filter === undefined) await log.commit(consumer, stream, next, { signal });
  return rows.length;
}
