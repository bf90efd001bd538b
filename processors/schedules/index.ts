/**
 * Schedules: cron as events on `invocations`, fired by running nodes. See README.md.
 *
 * @module
 */
export { ScheduleError } from './errors.ts';
export { tickSeries, type TickSeries } from './cron.ts';
export { catchUp, jitterOf, DEFAULT_MAX_CATCH_UP } from './ticks.ts';
export { tickWorkflow, tickName, parseTickName } from './tick-workflow.ts';
export {
  createScheduleState,
  foldInvocations,
  foldRecord,
  type ScheduleState,
  type FiredTick,
  type RunStatus,
} from './fold.ts';
export { systemTimer, createManualTime, type Timer, type ManualTime } from './clock.ts';
export {
  createScheduleFirer,
  DEFAULT_GRACE_MS,
  type ScheduleFirer,
  type ScheduleFirerInit,
  type ScheduleProgress,
} from './firer.ts';
export { scheduleCreated, type ScheduleOptions } from './create.ts';
