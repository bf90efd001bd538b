/**
 * Building a `schedule/created` event from user input, validated once at the edge: the
 * pattern and zone parse, the workflow is a valid workflow, options are in range.
 *
 * @module
 */
import {
  CATCH_UP_POLICIES,
  type CatchUpPolicy,
  type ScheduleCreatedEvent,
  type ScheduleTarget,
} from '../../schemas/job-events.ts';
import { tickSeries } from './cron.ts';
import { ScheduleError } from './errors.ts';
import { tickWorkflow } from './tick-workflow.ts';

/** What a user gives for a schedule. */
export interface ScheduleOptions {
  name: string;
  cron: string;
  /** IANA zone. @default UTC */
  tz?: string | null;
  /** @default 'skip' */
  catchUp?: string;
  /** @default 0 */
  jitterMs?: number;
  target: ScheduleTarget;
  /** Creation time (ticks after it fire). */
  at: number;
}

/**
 * Validates the options and returns the event to append.
 * @throws {ScheduleError} naming the bad field
 */
export function scheduleCreated(o: ScheduleOptions): ScheduleCreatedEvent {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(o.name))
    throw new ScheduleError(
      'name',
      `expected letters, digits, ".", "_" or "-" (got ${JSON.stringify(o.name)})`,
    );
  const series = tickSeries(o.cron, o.tz ?? null);
  const catchUp = o.catchUp ?? 'skip';
  if (!(CATCH_UP_POLICIES as readonly string[]).includes(catchUp))
    throw new ScheduleError('catchUp', `expected ${CATCH_UP_POLICIES.join(', ')} (got ${catchUp})`);
  const jitterMs = o.jitterMs ?? 0;
  if (!Number.isSafeInteger(jitterMs) || jitterMs < 0)
    throw new ScheduleError('jitterMs', `expected a non-negative integer of ms (got ${jitterMs})`);
  if ('workflow' in o.target) {
    const next = series.next(o.at);
    tickWorkflow(o.target.workflow, o.name, next ?? o.at);
  }
  return {
    type: 'schedule/created',
    name: o.name,
    cron: o.cron,
    tz: o.tz ?? null,
    catchUp: catchUp as CatchUpPolicy,
    jitterMs,
    target: o.target,
    at: o.at,
  };
}
