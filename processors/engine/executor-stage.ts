/**
 * The executor stage: ready tasks from the shared `executor` consumer of `invocations` (so
 * several nodes share the work and a restart resumes) merged with the tasks this node's
 * scheduler released (the local fast path), run by {@link executeTasks}, their receipts
 * appended to their stream. A consumed position is committed only once every record before it
 * has its receipt appended (at least once, never skipping a record).
 *
 * @module
 */
import { Subject, finalize, merge, mergeMap, tap, type Subscription } from '../rx/index.ts';
import { consume } from './reads.ts';
import { decodeRecord, routingOf } from './envelope.ts';
import { createCommitTracker } from './commit-tracker.ts';
import { executeTasks } from './execute-tasks.ts';
import { placeTasks } from './place-tasks.ts';
import { flatMapSync } from './operators.ts';
import type { Core, ReadyItem } from './core.ts';
import type { LogRecord } from '../../streams/log.ts';

/** The consumer name of the executors on `invocations`. */
export const EXECUTOR = 'executor';

/** A running executor stage. */
export interface ExecutorStage {
  /** Commits the positions whose records are done. */
  commit(): Promise<void>;
  /** Stops taking local tasks and resolves when the running ones are written. */
  drain(): Promise<void>;
  readonly subscription: Subscription;
}

/** Starts the executor; managed effects whose intent has no outcome are sent again. */
export function startExecutor(core: Core): ExecutorStage {
  const { log, streams, authority, fx, signal } = core;
  const tracker = createCommitTracker();
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const local = new Subject<ReadyItem>();
  // In a cluster the next task goes through the shared consumer (work sharing): no pipelining.
  const pipeline = core.init.pipeline !== false && core.init.cluster === undefined;
  core.localTasks = local;
  const fromLog = consume(log, streams.invocations, EXECUTOR, signal).pipe(
    tap((record) => tracker.begin(record)),
    flatMapSync((record): ReadyItem[] => {
      const own = core.echo.recall(record);
      // Another node's record (in a cluster, most of them): its routing header says what it is,
      // as recovery reads it, and only a task/ready is decoded. A submission's body is not
      // decoded once more by every executor that skips it (~7 µs for one task, ~0.36 ms for 100).
      // A record without the header (a producer's workflow document) is decoded.
      if (own === undefined && skipsUndecoded(record)) {
        tracker.end(record);
        return [];
      }
      const d = own ?? decodeRecord(record);
      const event = d instanceof Error ? d : 'type' in d ? d : d.event;
      if (event instanceof Error || event.type !== 'task/ready') {
        tracker.end(record);
        return [];
      }
      if (authority?.mode === 'ucan' && !core.authorized.has(event.workflow?.toString() ?? '')) {
        // A ready task no authorized submission released (e.g. appended by a producer).
        const why = new Error(
          `task/ready of instruction ${event.instruction.toString()} refused: no authorized submission of workflow ${event.workflow?.toString() ?? '(none)'} on this node`,
        );
        core.deadLetter(record, why).then(() => tracker.end(record), core.fail);
        return [];
      }
      return [{ record, event }];
    }),
  );
  const ready = merge(fromLog, local);
  const subscription = (
    core.init.placement === undefined ? ready : ready.pipe(placeTasks(core, tracker, local))
  )
    .pipe(
      executeTasks<ReadyItem>({
        memo: core.memo,
        runner: fx?.runner ?? core.init.runner,
        nodeId: core.nodeId,
        concurrency: core.init.concurrency,
        taskRetry: core.init.taskRetry,
        onProgress: core.progress,
      }),
      mergeMap(async ({ item, receipt: computed }) => {
        core.readyLater?.settle(item.event.instruction.toString());
        // Signed here (not by appendEvents) so that what is folded early is what is written.
        const receipt =
          computed !== null && authority !== undefined && computed.sig === undefined
            ? await authority.sign(computed)
            : computed;
        if (receipt !== null) {
          if (!receipt.replayed) core.init.placement?.observe(receipt);
          // Effects a result asks for are submitted before the result is written.
          await fx?.emit(receipt);
          const append = core.appendReceipt(receipt);
          // A pure receipt's dependents start now, while its group commit is in flight.
          if (pipeline && receipt.run.op === 'wasm/run') core.foldEarly(receipt, append);
          await append;
        }
        if (item.record !== null) tracker.end(item.record);
      }),
      finalize(() => finished()),
    )
    .subscribe({ error: core.fail });
  for (const ready of fx?.outbox.pending() ?? []) local.next({ record: null, event: ready });
  return {
    subscription,
    async commit() {
      const positions = tracker.take();
      if (positions !== null) await log.commit(EXECUTOR, streams.invocations, positions);
    },
    drain() {
      core.localTasks = undefined;
      local.complete();
      return done;
    },
  };
}

/** True for a record whose routing header names an event other than a task/ready. */
function skipsUndecoded(record: LogRecord): boolean {
  const routing = routingOf(record);
  return routing !== undefined && routing.type !== 'task/ready';
}
