/**
 * The fold of `invocations` that schedules need: the live schedules (last `schedule/created`
 * per name, minus those removed after it), every tick submitted so far (by the submission name
 * {@link tickName} gives it) and how each workflow ended.
 *
 * @module
 */
import type { NodeEvent } from '../../schemas/events.ts';
import type { Log, LogRecord, Positions } from '../../streams/log.ts';
import { readToEnd } from '../engine/reads.ts';
import { decodeRecord, routingOf } from '../engine/envelope.ts';
import type { ScheduleCreatedEvent } from '../../schemas/job-events.ts';
import { parseTickName } from './tick-workflow.ts';

/** A submitted tick. */
export interface FiredTick {
  tickMs: number;
  /** The workflow CID submitted for it. */
  workflow: string;
}

/** Status of a workflow as the log tells it. */
export type RunStatus = 'running' | 'completed' | 'failed';

/** The state of schedules, folded from `invocations`. */
export interface ScheduleState {
  /** Folds one event; returns true when the set of live schedules changed. */
  apply(event: NodeEvent): boolean;
  /** Live schedules by name. */
  readonly schedules: ReadonlyMap<string, ScheduleCreatedEvent>;
  /** Ticks submitted for a schedule name (any version of it), oldest first. */
  fired(name: string): FiredTick[];
  /** True when this workflow CID was submitted. */
  submitted(workflow: string): boolean;
  /** How a submitted workflow stands, or undefined when never submitted. */
  status(workflow: string): RunStatus | undefined;
}

/** Creates an empty state. */
export function createScheduleState(): ScheduleState {
  const schedules = new Map<string, ScheduleCreatedEvent>();
  const fired = new Map<string, Map<number, string>>();
  const statuses = new Map<string, RunStatus>();
  return {
    schedules,
    apply(event) {
      switch (event.type) {
        case 'schedule/created':
          schedules.set(event.name, event);
          return true;
        case 'schedule/removed':
          return schedules.delete(event.name);
        case 'workflow/submitted': {
          const key = event.workflow.toString();
          if (!statuses.has(key) || statuses.get(key) !== 'running') statuses.set(key, 'running');
          const tick = parseTickName(event.name);
          if (tick !== null) {
            let m = fired.get(tick.schedule);
            if (m === undefined) fired.set(tick.schedule, (m = new Map<number, string>()));
            m.set(tick.tickMs, key);
          }
          return false;
        }
        case 'workflow/completed':
        case 'workflow/failed':
          statuses.set(
            event.workflow.toString(),
            event.type === 'workflow/completed' ? 'completed' : 'failed',
          );
          return false;
        default:
          return false;
      }
    },
    fired(name) {
      const m = fired.get(name);
      if (m === undefined) return [];
      return [...m]
        .map(([tickMs, workflow]) => ({ tickMs, workflow }))
        .sort((a, b) => a.tickMs - b.tickMs);
    },
    submitted: (workflow) => statuses.has(workflow),
    status: (workflow) => statuses.get(workflow),
  };
}

const FOLDED = new Set([
  'schedule/created',
  'schedule/removed',
  'workflow/submitted',
  'workflow/completed',
  'workflow/failed',
]);

/** Folds one record of `invocations` (decoding only the event types the state needs). */
export function foldRecord(state: ScheduleState, record: LogRecord): boolean {
  const r = routingOf(record);
  if (r !== undefined && !FOLDED.has(r.type)) return false;
  const d = decodeRecord(record);
  return d instanceof Error ? false : state.apply(d.event);
}

/** Folds `invocations` to its current end; returns the next position of every partition. */
export function foldInvocations(
  log: Log,
  stream: string,
  state: ScheduleState,
  signal?: AbortSignal,
): Promise<Positions> {
  return readToEnd(log, stream, (record) => void foldRecord(state, record), signal);
}
