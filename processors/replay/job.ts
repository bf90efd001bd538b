/**
 * A replay job: fold one range of the streams into the tables, or verify it (re-hash every
 * receipt; re-execute a seeded sample of the pure tasks). The same function serves
 * `ipvm replay` and schedules that name a replay job.
 *
 * @module
 */
import type { Log, LogRecord } from '../../streams/log.ts';
import { receiptStreams, type Topology } from '../../streams/topology.ts';
import type { TaskRunner } from '../engine/execute-tasks.ts';
import type { IndexerStats } from '../index-tables.ts';
import { tableStreams } from '../index-tables.ts';
import type { TableStore } from '../tables/table-store.ts';
import type { ReceiptCheck } from '../auth/verify-receipt.ts';
import { checkReceipts, type Finding } from '../verify/receipts.ts';
import { reexecute } from '../verify/reexecute.ts';
import type { MismatchRecorder } from '../verify/record.ts';
import { inRange, isWholeLog, type ReplayRange } from './range.ts';

/** What to replay. */
export interface ReplayJobSpec {
  into: 'tables' | 'verify';
  range: ReplayRange;
  /** Share of pure tasks re-executed by a verify job; 0 re-executes none. @default 0 */
  reexecute?: number;
  /** Seed of the re-execution sample. @default 0 */
  seed?: number;
}

/** Dependencies of {@link runReplayJob}. */
export interface ReplayJobInit {
  log: Log;
  topology: Topology;
  job: ReplayJobSpec;
  /** Needed by `tables` jobs. */
  store?: TableStore;
  /**
   * The consumer whose positions a whole-log `tables` job resets (`tablesConsumer`).
   * @default 'ipvm-tables'
   */
  consumer?: string;
  /** Receipts are verified by these rules before they become rows (`Authority.receiptCheck`). */
  verify?: ReceiptCheck;
  /** Needed to re-execute. */
  runner?: TaskRunner;
  /** Receives re-execution mismatches (the `verification` stream). */
  recorder?: MismatchRecorder;
  /** Names the re-execution in mismatch events. @default 'replay' */
  executor?: string;
  /** Records (or tasks) handled so far and the total, when known. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** The outcome of a job (what `--json` prints). */
export interface ReplaySummary {
  into: 'tables' | 'verify';
  /** Receipts re-hashed (verify). */
  verified?: number;
  /** Of those, receipts without a signature (verify). */
  unsigned?: number;
  /** Pure tasks in the range that could be re-executed, and those that were. */
  eligible?: number;
  reexecuted?: number;
  /** Located problems; a verify job with any fails. */
  mismatches: Finding[];
  /** Indexer counters (tables). */
  tables?: IndexerStats;
  ms: number;
}

async function countRecords(
  log: Log,
  streams: readonly string[],
  signal?: AbortSignal,
): Promise<number> {
  let n = 0;
  for (const s of streams) for await (const _ of log.read(s, { signal })) n++;
  return n;
}

/** Runs the job to the end of the log as it is now. */
export async function runReplayJob(init: ReplayJobInit): Promise<ReplaySummary> {
  const started = performance.now();
  const { log, topology, job, signal } = init;
  const filter = (r: LogRecord): boolean => inRange(job.range, r);
  const progress = init.onProgress;
  if (job.into === 'tables') {
    if (init.store === undefined) throw new TypeError('a tables job needs a table store');
    const streams = tableStreams(topology);
    const total =
      progress === undefined
        ? 0
        : await countRecords(log, [...streams.receipts, streams.invocations], signal);
    let done = 0;
    const onRecord = (): void => progress?.(++done, total);
    const { rebuildTables, reindexRange, indexMismatches } = await import('../tables/index.ts');
    const tables = isWholeLog(job.range)
      ? await rebuildTables(
          {
            log,
            store: init.store,
            streams,
            verify: init.verify,
            consumer: init.consumer,
            onProgress: undefined,
          },
          { signal },
        ).then((s) => {
          progress?.(total, total);
          return s;
        })
      : await reindexRange(
          { log, store: init.store, streams, filter, onRecord, verify: init.verify },
          { signal },
        );
    await indexMismatches({
      log,
      store: init.store,
      consumer: init.consumer,
      stream: topology.name('verification'),
      fromStart: true,
      filter: isWholeLog(job.range) ? undefined : filter,
      signal,
    });
    return { into: 'tables', mismatches: [], tables, ms: Math.round(performance.now() - started) };
  }
  // Every stream a computed receipt can be on (managed effects' outcomes too; their intents are
  // skipped), and `invocations`, which holds the receipts workflows replayed from the memo.
  const receipts = receiptStreams(topology);
  const invocations = topology.name('invocations');
  const checkedStreams = [...receipts, invocations];
  const total = progress === undefined ? 0 : await countRecords(log, checkedStreams, signal);
  let done = 0;
  const checked = await checkReceipts(log, checkedStreams, filter, {
    mixed: [invocations],
    signal,
    onRecord: () => progress?.(++done, total),
  });
  const summary: ReplaySummary = {
    into: 'verify',
    verified: checked.checked,
    unsigned: checked.unsigned,
    mismatches: checked.findings,
    ms: 0,
  };
  const fraction = job.reexecute ?? 0;
  if (fraction > 0) {
    if (init.runner === undefined) throw new TypeError('re-execution needs a task runner');
    const r = await reexecute({
      log,
      streams: receipts,
      runner: init.runner,
      filter,
      fraction,
      seed: job.seed,
      executor: init.executor ?? 'replay',
      signal,
      onTask: progress,
    });
    summary.eligible = r.eligible;
    summary.reexecuted = r.reexecuted;
    summary.mismatches.push(...r.findings);
    for (const e of r.events) init.recorder?.record(e);
    await init.recorder?.drain();
  }
  summary.ms = Math.round(performance.now() - started);
  return summary;
}
