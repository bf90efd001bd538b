/**
 * The schedule firer of a node (`ipvm cron`): workflow ticks go through `node.submit`;
 * replay-job ticks run in the node over its own log (verify: with its runner, mismatches on
 * `verification`; tables: only when the node keeps the tables).
 *
 * @module
 */
import type { ReplayJob } from '../../schemas/job-events.ts';
import type { Logger } from '../logger.ts';
import type { ScheduleFirer } from '../schedules/index.ts';
import type { TableStore } from '../tables/table-store.ts';
import type { Log } from '../../streams/log.ts';
import type { IpvmNode } from '../engine/types.ts';
import type { TaskRunner } from '../engine/execute-tasks.ts';
import type { Authority } from '../auth/types.ts';

/** Starts the firer of a node; `store()` is the table store when the node keeps tables. */
export async function startFirer(
  opened: { node: IpvmNode; log: Log; runner: TaskRunner; authority: Authority | undefined },
  logger: Logger,
  store: () => TableStore | undefined,
): Promise<ScheduleFirer> {
  const [{ createScheduleFirer }, { runReplayJob }, { parseRange }, { mismatchRecorder }] =
    await Promise.all([
      import('../schedules/index.ts'),
      import('../replay/job.ts'),
      import('../replay/range.ts'),
      import('../verify/record.ts'),
    ]);
  const { node, log } = opened;
  const runJob = async (job: ReplayJob, tickMs: number, name: string): Promise<void> => {
    const range = parseRange({ ...job, to: job.to ?? new Date(tickMs).toISOString() }, tickMs);
    const tables = store();
    if (job.into === 'tables' && tables === undefined)
      throw new Error(`schedule ${name}: a tables replay job needs the node started with --tables`);
    const summary = await runReplayJob({
      log,
      topology: node.topology,
      job: { into: job.into, range, reexecute: job.reexecute },
      store: tables,
      verify: opened.authority?.receiptCheck,
      runner: opened.runner,
      recorder: mismatchRecorder(log, node.topology.name('verification')),
      executor: `${node.nodeId}:verify`,
    });
    const fields = {
      schedule: name,
      tick: new Date(tickMs).toISOString(),
      verified: summary.verified,
      reexecuted: summary.reexecuted,
      mismatches: summary.mismatches.length,
      ms: summary.ms,
    };
    if (summary.mismatches.length > 0)
      logger.warn({ ...fields, found: summary.mismatches }, 'replay job found mismatches');
    else logger.info(fields, 'replay job done');
  };
  return createScheduleFirer({
    log,
    stream: node.topology.name('invocations'),
    submit: (submission, options) => node.submit(submission, options),
    runJob,
    onProgress: (e) => {
      if (e.type === 'schedule:fired')
        logger.info(
          {
            schedule: e.name,
            tick: new Date(e.tickMs).toISOString(),
            workflow: e.workflow,
            late: e.late,
          },
          'tick fired',
        );
      else if (e.type === 'schedule:skipped')
        logger.info(
          { schedule: e.name, skipped: e.ticks.map((t) => new Date(t).toISOString()) },
          'missed ticks skipped',
        );
      else logger.error({ schedule: e.name, err: e.error }, 'schedule error');
    },
  });
}
