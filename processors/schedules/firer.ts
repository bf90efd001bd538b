/**
 * The firer: inside a running node, fires each live schedule's ticks. A workflow tick submits
 * {@link tickWorkflow} (same tick, same CID: fired twice — by two nodes, or around a restart —
 * it runs once); a replay-job tick calls `runJob`. On start, and whenever the timer fires late,
 * ticks that were missed (due longer than `graceMs` ago) follow the schedule's catch-up policy;
 * ticks on time always fire.
 *
 * @module
 */
import type { Subscription } from '../rx/index.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import type { ReplayJob, ScheduleCreatedEvent } from '../../schemas/job-events.ts';
import type { Log } from '../../streams/log.ts';
import { follow } from '../engine/reads.ts';
import { systemTimer, type Timer } from './clock.ts';
import { tickSeries, type TickSeries } from './cron.ts';
import { createScheduleState, foldInvocations, foldRecord, type ScheduleState } from './fold.ts';
import { catchUp, DEFAULT_MAX_CATCH_UP, jitterOf } from './ticks.ts';
import { tickWorkflow } from './tick-workflow.ts';

/** A tick due longer ago than this was missed (its catch-up policy decides). @default 5_000 */
export const DEFAULT_GRACE_MS = 5_000;
const MAX_DELAY_MS = 2 ** 31 - 1;

/** Dependencies and settings of {@link createScheduleFirer}. */
export interface ScheduleFirerInit {
  log: Log;
  /** Full name of the `invocations` stream. */
  stream: string;
  /** Submits a workflow (`{name, workflow}`), e.g. `node.submit`. */
  submit: (submission: IpldValue, options?: { signal?: AbortSignal }) => Promise<unknown>;
  /** Runs a replay job for a tick; without it replay-job schedules are reported, not run. */
  runJob?: (job: ReplayJob, tickMs: number, schedule: string) => Promise<unknown>;
  /** @default Date.now */
  clock?: () => number;
  /** @default setTimeout */
  timer?: Timer;
  /** @default DEFAULT_MAX_CATCH_UP */
  maxCatchUp?: number;
  /** @default DEFAULT_GRACE_MS */
  graceMs?: number;
  onProgress?: (event: ScheduleProgress) => void;
}

/** Progress events of the firer. */
export type ScheduleProgress =
  | { type: 'schedule:fired'; name: string; tickMs: number; workflow: string | null; late: boolean }
  | { type: 'schedule:skipped'; name: string; ticks: number[] }
  | { type: 'schedule:error'; name: string; tickMs: number | null; error: unknown };

/** A running firer. */
export interface ScheduleFirer extends AsyncDisposable {
  /** What the firer has folded from `invocations`. */
  readonly state: ScheduleState;
  /** Resolves when every tick fired so far has been handed over. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

interface Armed {
  event: ScheduleCreatedEvent;
  series: TickSeries;
  /** Every tick up to here was handled (fired or skipped). */
  cursor: number;
}

/** Folds `invocations`, fires what is due, then follows the stream and fires on time. */
export async function createScheduleFirer(init: ScheduleFirerInit): Promise<ScheduleFirer> {
  const clock = init.clock ?? Date.now;
  const timer = init.timer ?? systemTimer;
  const grace = init.graceMs ?? DEFAULT_GRACE_MS;
  const max = init.maxCatchUp ?? DEFAULT_MAX_CATCH_UP;
  const progress = init.onProgress ?? (() => undefined);
  const controller = new AbortController();
  const state = createScheduleState();
  const armed = new Map<string, Armed>();
  let queue: Promise<void> = Promise.resolve();
  let handle: unknown;

  const arm = (event: ScheduleCreatedEvent): void => {
    let series: TickSeries;
    try {
      series = tickSeries(event.cron, event.tz);
    } catch (error) {
      progress({ type: 'schedule:error', name: event.name, tickMs: null, error });
      armed.delete(event.name);
      return;
    }
    const last = state.fired(event.name).at(-1)?.tickMs ?? -Infinity;
    armed.set(event.name, { event, series, cursor: Math.max(event.at, last) });
  };
  const sync = (): void => {
    for (const name of armed.keys()) if (!state.schedules.has(name)) armed.delete(name);
    for (const [name, event] of state.schedules) if (armed.get(name)?.event !== event) arm(event);
  };

  const fire = async (a: Armed, tickMs: number, late: boolean): Promise<void> => {
    const { name, target } = a.event;
    try {
      if ('workflow' in target) {
        const { submission, parsed } = tickWorkflow(target.workflow, name, tickMs);
        const cid = parsed.cid.toString();
        if (!state.submitted(cid)) await init.submit(submission, { signal: controller.signal });
        progress({ type: 'schedule:fired', name, tickMs, workflow: cid, late });
      } else if (init.runJob !== undefined) {
        await init.runJob(target.replay, tickMs, name);
        progress({ type: 'schedule:fired', name, tickMs, workflow: null, late });
      } else throw new Error('this node runs no replay jobs');
    } catch (error) {
      progress({ type: 'schedule:error', name, tickMs, error });
    }
  };

  const due = (): void => {
    if (controller.signal.aborted) return;
    const now = clock();
    let wake = Infinity;
    for (const a of armed.values()) {
      const { name, jitterMs, catchUp: policy } = a.event;
      const ready = a.series
        .previous(now, max + 1)
        .reverse()
        .filter((t) => t > a.cursor && t + jitterOf(name, t, jitterMs) <= now);
      const missed = ready.filter((t) => now - (t + jitterOf(name, t, jitterMs)) > grace);
      const onTime = ready.filter((t) => !missed.includes(t));
      const fired = catchUp(missed, policy, max);
      if (fired.length < missed.length)
        progress({
          type: 'schedule:skipped',
          name,
          ticks: missed.filter((t) => !fired.includes(t)),
        });
      for (const t of fired) queue = queue.then(() => fire(a, t, true));
      for (const t of onTime) queue = queue.then(() => fire(a, t, false));
      if (ready.length > 0) a.cursor = ready.at(-1)!;
      const next = a.series.next(a.cursor);
      if (next !== null) wake = Math.min(wake, next + jitterOf(name, next, jitterMs));
    }
    if (handle !== undefined) timer.clear(handle);
    handle =
      wake === Infinity
        ? undefined
        : timer.set(due, Math.min(MAX_DELAY_MS, Math.max(0, wake - now)));
  };

  const positions = await foldInvocations(init.log, init.stream, state, controller.signal);
  sync();
  due();
  const subscription: Subscription = follow(
    init.log,
    init.stream,
    positions,
    controller.signal,
  ).subscribe({
    next: (record) => {
      if (foldRecord(state, record)) {
        sync();
        due();
      }
    },
    error: (error: unknown) => progress({ type: 'schedule:error', name: '', tickMs: null, error }),
  });

  let closing: Promise<void> | undefined;
  const firer: ScheduleFirer = {
    state,
    idle: () => queue,
    close() {
      closing ??= (async () => {
        controller.abort();
        if (handle !== undefined) timer.clear(handle);
        subscription.unsubscribe();
        await queue;
      })();
      return closing;
    },
    [Symbol.asyncDispose]: () => firer.close(),
  };
  return firer;
}
