/**
 * schedule: turns workflows into ready tasks, and receipts into workflow progress.
 *
 * A fold over `invocations` (workflow submissions, task releases, workflow ends) and the receipt
 * streams. Each task is released as soon as *its own* awaited receipts exist — not in layers.
 * A task whose instruction is memoized is not released: its receipt is replayed for the
 * workflow. `await/ok` on a failed task, or `await/error` on a successful one, fails the waiting
 * task with an error receipt (it never runs). The workflow ends `completed` or `failed`, naming
 * the failed tasks, or `failed` with a reason on timeout. A `workflow/cancel` stops releases:
 * tasks already released finish, then the workflow ends `failed` with a `cancelled` reason.
 *
 * The scheduler knows what it already emitted by what it has read back from the streams, so
 * after a crash it is rebuilt by folding the streams from offset 0 and emits only what is
 * missing ({@link Scheduler.flush}).
 *
 * @module
 */
import type { CID } from 'multiformats/cid';
import type {
  NodeEvent,
  ReceiptEvent,
  TaskReadyEvent,
  WorkflowCancelEvent,
  WorkflowEndedEvent,
  WorkflowSubmittedEvent,
} from '../../schemas/events.ts';
import { plainArgs } from '../../schemas/events.ts';
import { isIpldMap, type IpldValue } from '../../schemas/ipld.ts';
import { WASM_RUN, parseWorkflow, readAwait, type ParsedWorkflow } from '../../schemas/model.ts';
import type { Await, Outcome } from '../../schemas/types.ts';
import { isRetryableFailure, type Memo } from './memo.ts';
import { failure, newReceiptEvent, replayedReceiptEvent } from './receipts.ts';
import { RenewingMap } from '../renewing.ts';

/**
 * Something the scheduler wants appended: to `invocations`, or a receipt, which goes where
 * core.ts's `receiptKey` says (an error receipt of a task that never ran to `pure`, a replayed
 * one with the run's other invocations).
 */
export type SchedulerOutput =
  | { stream: 'invocations'; event: TaskReadyEvent | WorkflowEndedEvent }
  | { stream: 'receipt'; event: ReceiptEvent }
  /**
   * A receipt already in the log for this workflow (an earlier run wrote it), given again to
   * the node's subscribers before the run's end; nothing is appended.
   */
  | { stream: 'announce'; event: ReceiptEvent };

/** Dependencies and settings of {@link createScheduler}. */
export interface SchedulerInit {
  memo: Memo;
  /** This node's id, written as `executor` on receipts the scheduler writes. */
  nodeId: string;
  /** @default Date.now */
  clock?: () => number;
  /**
   * True when the workflow already ran to its end (known to the caller from the log). A new
   * submission of it is a re-run: its tasks are replayed from the memo, one receipt each.
   */
  hasEnded?: (workflow: string) => boolean;
  /** Returns the already-parsed workflow of a submission, when the caller has it. */
  parse?: (event: WorkflowSubmittedEvent) => ParsedWorkflow | undefined;
  /**
   * A workflow not ended this long after submission fails with a timeout.
   * @default DEFAULT_WORKFLOW_TIMEOUT_MS
   */
  workflowTimeoutMs?: number;
  /**
   * A workflow awaiting an instruction nobody produces ({@link UnknownAwait}) fails this long
   * after submission if the receipt has not appeared.
   * @default DEFAULT_AWAIT_TIMEOUT_MS
   */
  awaitTimeoutMs?: number;
  /**
   * Scale-out seam: whether this node schedules `workflow` (writes its task/ready, replayed
   * receipts and end). Runs it does not own are still folded, so that it can take them over:
   * after ownership changes, {@link Scheduler.flush} writes what is due for the runs it now
   * owns. @default every workflow
   */
  owns?: (workflow: string) => boolean;
  /**
   * Most tasks this scheduler keeps released (task/ready written, no receipt yet) at once, over
   * every workflow. Tasks ready beyond it wait in the scheduler as indices, in the order they
   * became ready, and are released as receipts come in: a workflow of a million independent
   * tasks holds a million small task states, not a million task/ready events, queue entries
   * and executor states. @default DEFAULT_RELEASE_WINDOW
   */
  releaseWindow?: number;
}

/** @default 4096 */
export const DEFAULT_RELEASE_WINDOW = 4096;

/** @default 600_000 (10 minutes) */
export const DEFAULT_WORKFLOW_TIMEOUT_MS = 600_000;

/** @default 60_000 (1 minute) */
export const DEFAULT_AWAIT_TIMEOUT_MS = 60_000;

/** An await of an instruction that no task of its workflow, no running workflow and the memo
 * know: it can only be resolved by a receipt that arrives later (another producer, a node that
 * joins), so the wait is bounded by {@link SchedulerInit.awaitTimeoutMs}. */
export interface UnknownAwait {
  /** Index of the awaiting task. */
  task: number;
  /** Where the await sits, e.g. `tasks[1].run.input.args[0]`. */
  path: string;
  /** The awaited instruction CID. */
  instruction: string;
}

/** The scheduler's state machine. Every method returns what must be appended next. */
export interface Scheduler {
  /** Folds any event read from `invocations` or a receipt stream. */
  apply(event: NodeEvent): SchedulerOutput[];
  /** Notes that a task/ready was written (what {@link Scheduler.apply} does with the event). */
  released(workflow: string, instruction: string): void;
  /** Fails the workflows past their deadline. */
  tick(): SchedulerOutput[];
  /**
   * While replaying (`replaying` true) the scheduler folds without emitting; `flush()` ends
   * the replay and returns everything that is due but was never written.
   */
  flush(): SchedulerOutput[];
  /** Workflows not ended yet. */
  readonly active: number;
  /** Whether `workflow` was submitted and has not ended (a cancelled run ends later). */
  running(workflow: string): boolean;
  /** The awaits of `parsed` that nothing known can resolve (checked before submitting it). */
  unknownAwaits(parsed: ParsedWorkflow): UnknownAwait[];
}

interface Run {
  cid: CID;
  key: string;
  parsed: ParsedWorkflow;
  /** Task index by instruction CID. */
  indexOf: Map<string, number>;
  /** Outcome known for each task (from any workflow's receipt, or the memo). */
  outcome: Array<Outcome | undefined>;
  /** A receipt event for this workflow exists (read back or emitted) for each task. */
  written: boolean[];
  /** A task/ready for this workflow exists for each task. */
  released: boolean[];
  /** Per task: 1 ready and waiting for room in the release window, 2 released by this node. */
  windowed: Uint8Array;
  /** Tasks released by this node whose receipts have not come yet. */
  outstanding: number;
  receipts: Array<CID | undefined>;
  remaining: number;
  /**
   * Tasks of a re-run whose receipts were written for this workflow by an earlier run: not
   * written again, counted on the end event (`replayed`) and announced to subscribers.
   */
  fromLog: number[];
  dependents: number[][];
  deadline: number;
  /** When awaits nobody could resolve at submission must have resolved, or null. */
  awaitDeadline: number | null;
  ended: boolean;
  /** The end reason once a `workflow/cancel` was folded, or null. */
  cancelled: string | null;
}

/** Creates a scheduler, in replay mode until {@link Scheduler.flush} is called. */
export function createScheduler(init: SchedulerInit): Scheduler & { replaying: boolean } {
  const { memo, nodeId } = init;
  const clock = init.clock ?? Date.now;
  const timeoutMs = init.workflowTimeoutMs ?? DEFAULT_WORKFLOW_TIMEOUT_MS;
  const awaitTimeoutMs = init.awaitTimeoutMs ?? DEFAULT_AWAIT_TIMEOUT_MS;
  const runs = new RenewingMap<string, Run>();
  const window = init.releaseWindow ?? DEFAULT_RELEASE_WINDOW;
  /** Tasks released by this node without a receipt yet, over every run. */
  let outstanding = 0;
  /** Ready tasks waiting for room in the window, oldest first (`head` is the next one). */
  let held: Array<{ run: Run; index: number }> = [];
  let head = 0;
  /** instruction → runs with a task of that instruction, or a task awaiting it from outside. */
  const watchers = new RenewingMap<string, Array<{ run: Run; index: number; external: boolean }>>();
  let replaying = true;

  function watch(instruction: CID, run: Run, index: number, external: boolean): void {
    const key = instruction.toString();
    let list = watchers.get(key);
    if (list === undefined) watchers.set(key, (list = []));
    list.push({ run, index, external });
  }

  function submitted(event: WorkflowSubmittedEvent): Run | undefined {
    const key = event.workflow.toString();
    // A workflow already running is not started twice; one that ended runs again: its tasks
    // are memoized, so each gets a replayed receipt and the run ends at once.
    const previous = runs.get(key);
    if (previous?.ended === false) return undefined;
    const rerun = previous !== undefined || init.hasEnded?.(key) === true;
    const parsed = init.parse?.(event) ?? parseWorkflow(event.body as unknown as IpldValue);
    const n = parsed.tasks.length;
    const run: Run = {
      cid: event.workflow,
      key,
      parsed,
      indexOf: new Map(parsed.tasks.map((t) => [t.instruction.toString(), t.index])),
      outcome: new Array<Outcome | undefined>(n),
      written: new Array<boolean>(n).fill(false),
      released: new Array<boolean>(n).fill(false),
      windowed: new Uint8Array(n),
      outstanding: 0,
      receipts: new Array<CID | undefined>(n),
      remaining: n,
      fromLog: [],
      dependents: Array.from({ length: n }, () => []),
      deadline: event.at + timeoutMs,
      awaitDeadline: null,
      ended: false,
      cancelled: null,
    };
    for (const t of parsed.tasks) {
      for (const d of t.dependsOn) run.dependents[d]!.push(t.index);
      watch(t.instruction, run, t.index, false);
      const instr = t.instruction.toString();
      const entry = memo.get(instr);
      if (entry !== undefined) run.outcome[t.index] = entry.body.out;
      // Its receipt is in the log for this workflow already (an earlier run, or this one before
      // a restart): referenced by the run's end, not written again.
      if (memo.written(instr, key)) {
        markWritten(run, t.index, entry?.receipt);
        if (rerun) run.fromLog.push(t.index);
      }
    }
    if (unknownAwaits(parsed).length > 0) run.awaitDeadline = event.at + awaitTimeoutMs;
    for (const e of parsed.external) watch(e.instruction, run, e.task, true);
    runs.set(key, run);
    return run;
  }

  function unknownAwaits(parsed: ParsedWorkflow): UnknownAwait[] {
    const unknown: UnknownAwait[] = [];
    for (const e of parsed.external) {
      const instruction = e.instruction.toString();
      if (memo.has(instruction)) continue;
      // A task of a workflow that is running will produce it.
      if (watchers.get(instruction)?.some((w) => !w.external && !w.run.ended) === true) continue;
      unknown.push({ task: e.task, path: e.path, instruction });
    }
    return unknown;
  }

  /** The unknown awaits of a run still unresolved, with the tasks still waiting on them. */
  function stillUnknown(run: Run): UnknownAwait[] {
    return run.parsed.external
      .filter(
        (e) => !run.written[e.task] && !run.released[e.task] && !memo.has(e.instruction.toString()),
      )
      .map((e) => ({ task: e.task, path: e.path, instruction: e.instruction.toString() }));
  }

  function markWritten(run: Run, index: number, receipt: CID | undefined): void {
    if (run.written[index]) return;
    if (run.windowed[index] === 2) {
      run.windowed[index] = 0;
      run.outstanding--;
      outstanding--;
    }
    run.written[index] = true;
    run.receipts[index] = receipt;
    run.remaining -= 1;
  }

  /** The value an await resolves to, `undefined` while unknown, or an error outcome. */
  function resolveAwait(run: Run, a: Await): { value: IpldValue } | { fail: string } | undefined {
    const key = a.instruction.toString();
    const local = run.indexOf.get(key);
    const out = local !== undefined ? run.outcome[local] : memo.get(key)?.body.out;
    if (out === undefined) return undefined;
    if (a.selector === 'await/*') return { value: [out[0], out[1]] };
    const want = a.selector === 'await/ok' ? 'ok' : 'error';
    if (out[0] !== want) {
      return { fail: `${a.selector} of ${key}, which ended ${out[0]}` };
    }
    return { value: out[1] };
  }

  function substitute(value: IpldValue, values: Map<string, IpldValue>): IpldValue {
    if (Array.isArray(value)) return value.map((v) => substitute(v, values));
    if (isIpldMap(value)) {
      const a = readAwait(value, '');
      if (a !== null) return values.get(`${a.selector} ${a.instruction.toString()}`)!;
      const out: Record<string, IpldValue> = {};
      for (const [k, v] of Object.entries(value)) out[k] = substitute(v, values);
      return out;
    }
    return value;
  }

  /** Releases, replays or fails what is due in `run`, starting from `start` task indices. */
  function advance(run: Run, start: Iterable<number>): SchedulerOutput[] {
    const outputs: SchedulerOutput[] = [];
    if (run.ended || init.owns?.(run.key) === false) return outputs;
    if (run.cancelled !== null) {
      // Nothing more is released or replayed; the run ends once its running tasks have.
      if (run.released.every((r, i) => !r || run.written[i]))
        outputs.push(...end(run, run.cancelled));
      return outputs;
    }
    const now = clock();
    const queue = [...start];
    const queued = new Set(queue);
    for (let head = 0; head < queue.length; head++) {
      const index = queue[head]!;
      const t = run.parsed.tasks[index]!;
      if (run.written[index]) continue;
      const instr = t.instruction.toString();
      if (run.outcome[index] !== undefined) {
        // Known from another workflow's receipt or the memo: write it for this workflow unless
        // the executor owns it (released) and will write it.
        if (run.released[index]) continue;
        const entry = memo.get(instr);
        if (entry === undefined) continue; // a transient failure elsewhere: run it here
        const ev = replayedReceiptEvent(entry, t.task.run, run.cid, nodeId, now);
        markWritten(run, index, entry.receipt);
        outputs.push({ stream: 'receipt', event: ev });
      } else if (!run.released[index]) {
        const values = new Map<string, IpldValue>();
        let missing = false;
        let fail: string | undefined;
        for (const a of t.awaits) {
          const r = resolveAwait(run, a);
          if (r === undefined) missing = true;
          else if ('fail' in r) fail ??= `${a.path}: ${r.fail}`;
          else values.set(`${a.selector} ${a.instruction.toString()}`, r.value);
        }
        if (fail !== undefined) {
          // Deterministic when the awaited outcome is memoized, transient otherwise.
          const transient = t.awaits.some((a) => {
            const src = memo.get(a.instruction.toString());
            return src === undefined;
          });
          const ev = newReceiptEvent({
            instruction: t.instruction,
            invocation: t.invocation,
            workflow: run.cid,
            run: t.task.run,
            out: failure('await', fail, transient),
            fuel: null,
            durationMs: null,
            executor: nodeId,
            at: now,
          });
          memo.put(ev);
          run.outcome[index] = ev.body.out;
          markWritten(run, index, ev.receipt);
          outputs.push({ stream: 'receipt', event: ev });
        } else if (!missing) {
          if (outstanding >= window) {
            // No room: wait as an index until receipts come in (releaseHeld).
            if (run.windowed[index] === 0) {
              run.windowed[index] = 1;
              held.push({ run, index });
            }
            continue;
          }
          const input = t.task.run.input;
          // Wasm calls take `input.args`; other ops (effects) take their whole input. Without
          // awaits they are the task's own (the same objects: the record does not repeat them).
          const args =
            t.awaits.length === 0
              ? plainArgs(t.task)
              : t.task.run.op !== WASM_RUN
                ? [substitute(input, values)]
                : isIpldMap(input) && Array.isArray(input.args)
                  ? (substitute(input.args, values) as IpldValue[])
                  : [];
          run.released[index] = true;
          run.windowed[index] = 2;
          run.outstanding++;
          outstanding++;
          outputs.push({
            stream: 'invocations',
            event: {
              type: 'task/ready',
              workflow: run.cid,
              instruction: t.instruction,
              invocation: t.invocation,
              task: t.task,
              args,
              at: now,
            },
          });
          continue; // dependents wait for its receipt
        } else continue;
      } else continue;
      for (const d of run.dependents[index]!) {
        if (!queued.has(d)) {
          queued.add(d);
          queue.push(d);
        }
      }
    }
    if (run.remaining === 0) outputs.push(...end(run, null));
    return outputs;
  }

  /** Releases held tasks while the window has room. */
  function releaseHeld(outputs: SchedulerOutput[]): void {
    while (outstanding < window && head < held.length) {
      const { run, index } = held[head]!;
      held[head++] = undefined as unknown as { run: Run; index: number };
      if (run.ended || run.windowed[index] !== 1) continue;
      run.windowed[index] = 0;
      outputs.push(...advance(run, [index]));
    }
    if (head > 1024 && head * 2 > held.length) {
      held = held.slice(head);
      head = 0;
    }
  }

  /** Forgets an ended run: a long-lived node must not keep every workflow it ever ran. */
  function forget(run: Run): void {
    outstanding -= run.outstanding;
    run.outstanding = 0;
    runs.delete(run.key);
    const keys = [
      ...run.parsed.tasks.map((t) => t.instruction.toString()),
      ...run.parsed.external.map((e) => e.instruction.toString()),
    ];
    for (const key of keys) {
      const list = watchers.get(key)?.filter((w) => w.run !== run);
      if (list === undefined || list.length === 0) watchers.delete(key);
      else watchers.set(key, list);
    }
  }

  /** The run's end, after the receipts of the tasks it answered from the log (announced). */
  function end(run: Run, reason: string | null): SchedulerOutput[] {
    const outputs: SchedulerOutput[] = [];
    if (run.fromLog.length > 0) {
      const now = clock();
      for (const index of run.fromLog) {
        const t = run.parsed.tasks[index]!;
        const entry = memo.get(t.instruction.toString());
        if (entry === undefined) continue;
        const event = replayedReceiptEvent(entry, t.task.run, run.cid, nodeId, now);
        outputs.push({ stream: 'announce', event });
      }
    }
    outputs.push(ended(run, reason));
    return outputs;
  }

  function ended(run: Run, reason: string | null): SchedulerOutput {
    run.ended = true;
    forget(run);
    const failed = run.parsed.tasks
      .filter((t) => run.outcome[t.index]?.[0] !== 'ok')
      .map((t) => t.instruction);
    const event: WorkflowEndedEvent = {
      type: failed.length === 0 && reason === null ? 'workflow/completed' : 'workflow/failed',
      workflow: run.cid,
      receipts: run.receipts.filter((r): r is CID => r !== undefined),
      failed,
      reason,
      ...(run.fromLog.length > 0 ? { replayed: run.fromLog.length } : {}),
      at: clock(),
    };
    return { stream: 'invocations', event };
  }

  function onReceipt(event: ReceiptEvent): SchedulerOutput[] {
    const list = watchers.get(event.instruction.toString());
    if (list === undefined) return [];
    const outputs: SchedulerOutput[] = [];
    const transient = isRetryableFailure(event.body.out);
    const touched = new Map<Run, number[]>();
    for (const { run, index, external } of list) {
      if (run.ended) continue;
      if (!external) {
        const own = event.workflow !== null && event.workflow.toString() === run.key;
        // Another workflow's retryable failure says nothing about this task: it still runs here.
        if (own || !transient) run.outcome[index] ??= event.body.out;
        if (own) markWritten(run, index, event.receipt);
        const starts = touched.get(run) ?? [];
        starts.push(...run.dependents[index]!, index);
        touched.set(run, starts);
      } else {
        const starts = touched.get(run) ?? [];
        starts.push(index);
        touched.set(run, starts);
      }
    }
    if (replaying) return outputs; // flush() advances everything once the replay is over
    for (const [run, starts] of touched) outputs.push(...advance(run, starts));
    return outputs;
  }

  /** Folds a cancel request; a second one, or one for a run not known, changes nothing. */
  function cancel(event: WorkflowCancelEvent): Run | undefined {
    const run = runs.get(event.workflow.toString());
    if (run === undefined || run.ended || run.cancelled !== null) return undefined;
    run.cancelled = cancelReason(event.reason);
    return run;
  }

  function released(workflow: string, instruction: string): void {
    const run = runs.get(workflow);
    const index = run?.indexOf.get(instruction);
    if (run !== undefined && index !== undefined) run.released[index] = true;
  }

  const scheduler = {
    released,
    get replaying() {
      return replaying;
    },
    set replaying(value: boolean) {
      replaying = value;
    },
    unknownAwaits,
    running: (workflow: string) => runs.get(workflow)?.ended === false,
    get active() {
      let n = 0;
      for (const r of runs.values()) if (!r.ended) n++;
      return n;
    },
    apply(event: NodeEvent): SchedulerOutput[] {
      let outputs: SchedulerOutput[] = [];
      switch (event.type) {
        case 'workflow/submitted': {
          const run = submitted(event);
          if (run !== undefined && !replaying) outputs = advance(run, run.parsed.order);
          break;
        }
        case 'task/ready':
          if (event.workflow !== null)
            released(event.workflow.toString(), event.instruction.toString());
          break;
        case 'receipt':
          outputs = onReceipt(event);
          break;
        case 'workflow/cancel': {
          const run = cancel(event);
          if (run !== undefined && !replaying) outputs = advance(run, []);
          break;
        }
        case 'workflow/completed':
        case 'workflow/failed': {
          const run = runs.get(event.workflow.toString());
          if (run !== undefined) {
            run.ended = true;
            forget(run);
          }
          break;
        }
        default:
          break;
      }
      if (!replaying) releaseHeld(outputs);
      return outputs;
    },
    tick(): SchedulerOutput[] {
      if (replaying) return [];
      const now = clock();
      const outputs: SchedulerOutput[] = [];
      for (const run of runs.values()) {
        if (run.ended || init.owns?.(run.key) === false) continue;
        if (now >= run.deadline) {
          outputs.push(...end(run, `timed out after ${timeoutMs} ms`));
        } else if (run.awaitDeadline !== null && now >= run.awaitDeadline) {
          run.awaitDeadline = null;
          const unknown = stillUnknown(run);
          if (unknown.length > 0) {
            const where = unknown.map((u) => `${u.path} awaits ${u.instruction}`).join('; ');
            outputs.push(
              ...end(
                run,
                `${where}: not produced by this workflow and not in the memo after ${awaitTimeoutMs} ms`,
              ),
            );
          }
        }
      }
      releaseHeld(outputs);
      return outputs;
    },
    flush(): SchedulerOutput[] {
      replaying = false;
      const outputs: SchedulerOutput[] = [];
      for (const run of runs.values()) {
        if (run.ended) continue;
        // Outcomes that became known while replaying (memoized elsewhere) count now.
        for (const t of run.parsed.tasks) {
          const entry = memo.get(t.instruction.toString());
          if (entry !== undefined) run.outcome[t.index] ??= entry.body.out;
        }
        outputs.push(...advance(run, run.parsed.order));
      }
      return outputs;
    },
  };
  return scheduler;
}

/** The end reason of a cancelled workflow: always starts with `cancelled`. */
export function cancelReason(reason: string | null): string {
  return reason === null || reason === '' ? 'cancelled' : `cancelled: ${reason}`;
}
