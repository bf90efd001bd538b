/**
 * The console's read model: a fold of the node's streams (`invocations`, the receipt streams and
 * `dead-letter`) into what the console shows — workflows with their tasks' states, stream
 * offsets, recent task rates and dead letters. It reads the log like any other consumer (from
 * the beginning, then following), so it shows what the log says, whichever node wrote it, and
 * survives restarts without state of its own.
 *
 * Memory is bounded: running workflows are all kept (the scheduler keeps them too), ended ones
 * beyond {@link ConsoleModelInit.maxEndedWorkflows} are forgotten oldest-ended first, dead letters
 * beyond {@link ConsoleModelInit.maxDeadLetters} oldest first, and the rate histogram covers
 * {@link RATE_WINDOW_MS}. Outputs and resolved arguments are not copied: they are read from the
 * memo when a task is opened.
 *
 * @module
 */
import type { Log, LogRecord, Positions } from '../../streams/log.ts';
import { receiptStreams, type Topology } from '../../streams/topology.ts';
import type { NodeEvent, ReceiptEvent, WorkflowEndedEvent } from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { Instruction } from '../../schemas/types.ts';
import type { Memo } from '../engine/memo.ts';
import { follow, readToEnd } from '../engine/reads.ts';
import { withBody } from '../engine/submission-body.ts';
import { decodeRecord } from '../engine/envelope.ts';

/** @default 500 */
export const DEFAULT_MAX_ENDED_WORKFLOWS = 500;
/** @default 200 */
export const DEFAULT_MAX_DEAD_LETTERS = 200;
/** Width of one bucket of the task-rate histogram. */
export const RATE_BUCKET_MS = 5_000;
/** How far back the task-rate histogram goes (10 minutes). */
export const RATE_WINDOW_MS = 600_000;

/** How a task's operation touches the world: drawn differently by the console. */
export type TaskKind = 'wasm' | 'effect' | 'managed';

/** What the console draws for a task. */
export type TaskState = 'pending' | 'ready' | 'ok' | 'replayed' | 'error';

/** Effects that change the world; every other non-Wasm op is a pure (nondestructive) effect. */
const MANAGED_OPS = new Set(['http/post', 'http/put', 'http/patch', 'http/delete']);

/** The kind of an instruction's op. */
export function kindOfOp(op: string): TaskKind {
  if (op === 'wasm/run') return 'wasm';
  return MANAGED_OPS.has(op) ? 'managed' : 'effect';
}

/** One task as the console keeps it. */
export interface ConsoleTask {
  index: number;
  instruction: string;
  op: string;
  rsc: string;
  /** The function called (`input.func`), or the op for effects. */
  func: string;
  kind: TaskKind;
  /** Tasks of this workflow it awaits. */
  awaits: Array<{ task: number; selector: string }>;
  /** Awaited instructions outside this workflow. */
  external: string[];
  state: TaskState;
  receipt: string | null;
  readyAt: number | null;
  doneAt: number | null;
  durationMs: number | null;
  fuel: number | null;
  executor: string | null;
  /** Retries before the receipt (its `attempts` − 1, else this node's progress events). */
  retries: number;
  /** `{kind, message}` of an error receipt. */
  error: { kind: string; message: string } | null;
}

/** One workflow as the console keeps it. */
export interface ConsoleWorkflow {
  cid: string;
  name: string | null;
  status: 'running' | 'completed' | 'failed';
  submittedAt: number;
  endedAt: number | null;
  /** Why it failed, when not because of task errors (e.g. a timeout). */
  reason: string | null;
  /** Times submitted. */
  submissions: number;
  tasks: ConsoleTask[];
  /** The submitted body, to answer task details (instruction, arguments). */
  body: IpldValue;
}

/** A workflow in the list. */
export interface WorkflowSummary {
  cid: string;
  name: string | null;
  status: ConsoleWorkflow['status'];
  tasks: number;
  done: number;
  failed: number;
  replayed: number;
  submittedAt: number;
  endedAt: number | null;
  durationMs: number | null;
}

/** Filter of {@link ConsoleModel.workflows}. */
export interface WorkflowFilter {
  status?: ConsoleWorkflow['status'];
  /** Substring of the name or the CID, case-insensitive. */
  name?: string;
  /** @default 200 */
  limit?: number;
}

/** A record of the dead-letter stream. */
export interface DeadLetterView {
  stream: string;
  partition: number;
  offset: number;
  reason: string;
  at: number;
}

/** What the model knows of the streams and the work. */
export interface ConsoleStats {
  /** Next offset per partition of each stream (records seen so far). */
  streams: Array<{ stream: string; partitions: Record<number, number>; records: number }>;
  /**
   * Receipts seen (computed ones on the receipt streams, replayed ones on `invocations`), and
   * how many were replayed from the memo (including those a re-run's end references instead of
   * writing them again).
   */
  receipts: number;
  replayed: number;
  /** Executed and replayed receipts per {@link RATE_BUCKET_MS} bucket, oldest first. */
  rate: { bucketMs: number; from: number; executed: number[]; replayed: number[] };
  /** Tasks released (task/ready) without a receipt yet: queued or running. */
  inFlight: number;
  /** Workflows kept / running / forgotten. */
  workflows: { kept: number; running: number; evicted: number };
  /** The latest dead letters, newest first, and the total seen. */
  deadLetters: DeadLetterView[];
  deadLettersTotal: number;
}

/** A change, for live views. */
export interface ConsoleChange {
  workflow: string;
  /** The task that changed, or undefined when the workflow itself did. */
  task?: number;
}

/** Construction options of {@link createConsoleModel}. */
export interface ConsoleModelInit {
  log: Log;
  topology: Topology;
  /** The node's memo: fills re-run workflows answered from it. */
  memo?: Memo;
  /** Ended workflows kept. @default {@link DEFAULT_MAX_ENDED_WORKFLOWS} */
  maxEndedWorkflows?: number;
  /** Dead letters kept. @default {@link DEFAULT_MAX_DEAD_LETTERS} */
  maxDeadLetters?: number;
  /** @default Date.now */
  clock?: () => number;
  /** Called when following a stream fails. */
  onError?: (error: unknown) => void;
}

/** The read model. */
export interface ConsoleModel extends AsyncDisposable {
  /** Resolves once the streams are folded up to where they ended when the model started. */
  ready(): Promise<void>;
  workflows(filter?: WorkflowFilter): WorkflowSummary[];
  workflow(cid: string): ConsoleWorkflow | undefined;
  summary(workflow: ConsoleWorkflow): WorkflowSummary;
  /** The instruction of a task, from the submitted body. */
  instruction(workflow: ConsoleWorkflow, index: number): Instruction | undefined;
  stats(): ConsoleStats;
  /** Counts a retry of an instruction (feed the node's `execute:retry` progress events). */
  noteRetry(instruction: string): void;
  /** Listens to changes; returns a function that stops listening. */
  onChange(listener: (change: ConsoleChange) => void): () => void;
  /** Stops following. Idempotent. */
  close(): Promise<void>;
}

function stateOfReceipt(r: ReceiptEvent): TaskState {
  if (r.body.out[0] === 'error') return 'error';
  return r.replayed ? 'replayed' : 'ok';
}

function errorOf(value: IpldValue): { kind: string; message: string } {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, IpldValue>;
    if (typeof v.message === 'string')
      return { kind: typeof v.kind === 'string' ? v.kind : 'error', message: v.message };
  }
  return { kind: 'error', message: typeof value === 'string' ? value : JSON.stringify(value) };
}

/** Creates the model and starts folding; await {@link ConsoleModel.ready} before reading. */
export function createConsoleModel(init: ConsoleModelInit): ConsoleModel {
  const { log, topology } = init;
  const clock = init.clock ?? Date.now;
  const maxEnded = init.maxEndedWorkflows ?? DEFAULT_MAX_ENDED_WORKFLOWS;
  const maxDead = init.maxDeadLetters ?? DEFAULT_MAX_DEAD_LETTERS;
  const controller = new AbortController();
  const workflows = new Map<string, ConsoleWorkflow>();
  const indexOf = new Map<string, Map<string, number>>();
  /** Ended workflows, oldest end first (a workflow that ends again moves to the back). */
  const endedOrder = new Map<string, true>();
  /** Receipts read before their workflow's submission (the streams are read side by side). */
  const early = new Map<string, ReceiptEvent[]>();
  let earlyCount = 0;
  const retries = new Map<string, number>();
  const offsets = new Map<string, Record<number, number>>();
  const deadLetters: DeadLetterView[] = [];
  let deadLettersTotal = 0;
  let receipts = 0;
  let replayed = 0;
  let evicted = 0;
  const buckets = new Map<number, { executed: number; replayed: number }>();
  const listeners = new Set<(change: ConsoleChange) => void>();
  const emit = (change: ConsoleChange): void => {
    for (const l of listeners) l(change);
  };

  const applyReceipt = (wf: ConsoleWorkflow, index: number, r: ReceiptEvent): void => {
    const t = wf.tasks[index]!;
    t.state = stateOfReceipt(r);
    t.receipt = r.receipt.toString();
    t.doneAt = r.at;
    t.durationMs = r.durationMs;
    t.fuel = r.fuel;
    t.executor = r.executor;
    t.error = r.body.out[0] === 'error' ? errorOf(r.body.out[1]) : null;
    // Receipts say how many tries they took; older ones only this node's progress events know.
    t.retries =
      r.attempts !== undefined ? r.attempts - 1 : (retries.get(t.instruction) ?? t.retries);
    emit({ workflow: wf.cid, task: index });
  };

  const submitted = (e: Extract<NodeEvent, { type: 'workflow/submitted' }>): void => {
    const key = e.workflow.toString();
    const known = workflows.get(key);
    if (known !== undefined) {
      endedOrder.delete(key);
      known.submissions++;
      known.status = 'running';
      known.name = e.name ?? known.name;
      known.submittedAt = e.at;
      known.endedAt = null;
      known.reason = null;
      for (const t of known.tasks) {
        t.state = 'pending';
        t.readyAt = null;
      }
      emit({ workflow: key });
      return;
    }
    let parsed;
    try {
      parsed = parseWorkflow(e.body as unknown as IpldValue);
    } catch {
      return; // the node refuses it too (and dead-letters it)
    }
    const byInstruction = new Map(parsed.tasks.map((t) => [t.instruction.toString(), t.index]));
    const tasks = parsed.tasks.map((t): ConsoleTask => {
      const input = t.task.run.input as { func?: unknown } | null;
      const awaits: ConsoleTask['awaits'] = [];
      const external: string[] = [];
      for (const a of t.awaits) {
        const i = byInstruction.get(a.instruction.toString());
        if (i === undefined) external.push(a.instruction.toString());
        else if (!awaits.some((x) => x.task === i)) awaits.push({ task: i, selector: a.selector });
      }
      return {
        index: t.index,
        instruction: t.instruction.toString(),
        op: t.task.run.op,
        rsc: t.task.run.rsc,
        func: typeof input?.func === 'string' ? input.func : t.task.run.op,
        kind: kindOfOp(t.task.run.op),
        awaits,
        external,
        state: 'pending',
        receipt: null,
        readyAt: null,
        doneAt: null,
        durationMs: null,
        fuel: null,
        executor: null,
        retries: 0,
        error: null,
      };
    });
    const wf: ConsoleWorkflow = {
      cid: key,
      name: e.name,
      status: 'running',
      submittedAt: e.at,
      endedAt: null,
      reason: null,
      submissions: 1,
      tasks,
      body: e.body as unknown as IpldValue,
    };
    workflows.set(key, wf);
    indexOf.set(key, byInstruction);
    const waiting = early.get(key);
    if (waiting !== undefined) {
      early.delete(key);
      earlyCount -= waiting.length;
      for (const r of waiting) {
        const i = byInstruction.get(r.instruction.toString());
        if (i !== undefined) applyReceipt(wf, i, r);
      }
    }
    emit({ workflow: key });
  };

  const ended = (e: WorkflowEndedEvent): void => {
    if (e.replayed !== undefined) countReplays(e.replayed, e.at);
    const key = e.workflow.toString();
    const wf = workflows.get(key);
    if (wf === undefined) return;
    wf.status = e.type === 'workflow/completed' ? 'completed' : 'failed';
    wf.endedAt = e.at;
    wf.reason = e.reason;
    // A re-run answered from the memo writes no receipts: its tasks were replayed.
    e.receipts.forEach((receipt, i) => {
      const t = wf.tasks[i];
      if (t === undefined || t.state !== 'pending') return;
      const entry = init.memo?.get(t.instruction);
      t.receipt = receipt.toString();
      t.state = entry?.body.out[0] === 'error' ? 'error' : 'replayed';
      if (entry?.body.out[0] === 'error') t.error = errorOf(entry.body.out[1]);
    });
    endedOrder.delete(key);
    endedOrder.set(key, true);
    evict();
    emit({ workflow: key });
  };

  const evict = (): void => {
    for (const key of endedOrder.keys()) {
      if (endedOrder.size <= maxEnded) break;
      endedOrder.delete(key);
      const wf = workflows.get(key);
      if (wf === undefined || wf.status === 'running') continue; // submitted again: kept
      workflows.delete(key);
      indexOf.delete(key);
      evicted++;
    }
  };

  const bucketAt = (at: number): { executed: number; replayed: number } | undefined => {
    const bucket = Math.floor(at / RATE_BUCKET_MS) * RATE_BUCKET_MS;
    if (bucket < clock() - RATE_WINDOW_MS) return undefined;
    let b = buckets.get(bucket);
    if (b === undefined) buckets.set(bucket, (b = { executed: 0, replayed: 0 }));
    return b;
  };

  const countRate = (r: ReceiptEvent): void => {
    receipts++;
    if (r.replayed) replayed++;
    const b = bucketAt(r.at);
    if (b === undefined) return;
    if (r.replayed) b.replayed++;
    else b.executed++;
  };

  /** Receipts a re-run referenced (its end) instead of writing them again. */
  const countReplays = (n: number, at: number): void => {
    replayed += n;
    const b = bucketAt(at);
    if (b !== undefined) b.replayed += n;
  };

  const receipt = (r: ReceiptEvent): void => {
    countRate(r);
    if (r.workflow === null) return;
    const key = r.workflow.toString();
    const wf = workflows.get(key);
    if (wf === undefined) {
      // Bounded: receipts of workflows never submitted (or forgotten) must not pile up.
      if (earlyCount >= 10_000) return;
      let list = early.get(key);
      if (list === undefined) early.set(key, (list = []));
      list.push(r);
      earlyCount++;
      return;
    }
    const i = indexOf.get(key)?.get(r.instruction.toString());
    if (i !== undefined) applyReceipt(wf, i, r);
  };

  const apply = (record: LogRecord): void => {
    const parts = offsets.get(record.stream) ?? {};
    offsets.set(record.stream, parts);
    parts[record.partition] = Math.max(parts[record.partition] ?? 0, record.offset + 1);
    const d = decodeRecord(record);
    if (d instanceof Error) return; // the node dead-letters it
    const e = d.event;
    switch (e.type) {
      case 'workflow/submitted':
        if (e.body === null && !workflows.has(e.workflow.toString())) {
          // A re-run of a workflow this model forgot: its body is in an earlier record.
          withBody(log, record.stream, e).then(
            (full) => submitted(full.event),
            () => undefined, // the node dead-letters what it cannot resolve
          );
        } else submitted(e);
        break;
      case 'task/ready':
      case 'effect/intent': {
        // A managed effect's intent: its request is about to go out (as good as released).
        if (e.workflow === null) break;
        const key = e.workflow.toString();
        const wf = workflows.get(key);
        const i = indexOf.get(key)?.get(e.instruction.toString());
        if (wf === undefined || i === undefined) break;
        const t = wf.tasks[i]!;
        if (t.state === 'pending') t.state = 'ready';
        t.readyAt = e.at;
        emit({ workflow: key, task: i });
        break;
      }
      case 'receipt':
        receipt(e);
        break;
      case 'workflow/completed':
      case 'workflow/failed':
        ended(e);
        break;
      case 'dead-letter':
        deadLettersTotal++;
        deadLetters.unshift({
          stream: e.stream,
          partition: e.partition,
          offset: e.offset,
          reason: e.reason,
          at: e.at,
        });
        if (deadLetters.length > maxDead) deadLetters.length = maxDead;
        break;
      default:
        break;
    }
  };

  const streams = [
    topology.name('invocations'),
    ...receiptStreams(topology),
    topology.name('dead-letter'),
  ];
  const subscriptions: Array<{ unsubscribe(): void }> = [];
  const fail = (err: unknown): void => {
    if (!controller.signal.aborted) init.onError?.(err);
  };
  const started = (async () => {
    const positions: Positions[] = [];
    // Invocations first, so that receipts find their workflows while catching up.
    for (const stream of streams)
      positions.push(await readToEnd(log, stream, apply, controller.signal));
    for (const [i, stream] of streams.entries())
      subscriptions.push(
        follow(log, stream, positions[i]!, controller.signal).subscribe({
          next: apply,
          error: fail,
        }),
      );
  })();
  started.catch(fail);

  const summary = (wf: ConsoleWorkflow): WorkflowSummary => {
    let done = 0;
    let failed = 0;
    let replayedTasks = 0;
    for (const t of wf.tasks) {
      if (t.state === 'ok' || t.state === 'replayed' || t.state === 'error') done++;
      if (t.state === 'error') failed++;
      if (t.state === 'replayed') replayedTasks++;
    }
    return {
      cid: wf.cid,
      name: wf.name,
      status: wf.status,
      tasks: wf.tasks.length,
      done,
      failed,
      replayed: replayedTasks,
      submittedAt: wf.submittedAt,
      endedAt: wf.endedAt,
      durationMs: (wf.endedAt ?? clock()) - wf.submittedAt,
    };
  };

  let closing: Promise<void> | undefined;
  const model: ConsoleModel = {
    ready: () => started,
    workflows(filter = {}) {
      const needle = filter.name?.toLowerCase();
      const out: WorkflowSummary[] = [];
      for (const wf of workflows.values()) {
        if (filter.status !== undefined && wf.status !== filter.status) continue;
        if (
          needle !== undefined &&
          needle !== '' &&
          !(wf.name ?? '').toLowerCase().includes(needle) &&
          !wf.cid.toLowerCase().includes(needle)
        )
          continue;
        out.push(summary(wf));
      }
      out.sort((a, b) => b.submittedAt - a.submittedAt);
      return out.slice(0, filter.limit ?? 200);
    },
    workflow: (cid) => workflows.get(cid),
    summary,
    instruction(wf, index) {
      const tasks = (wf.body as { tasks?: Array<{ run?: Instruction }> }).tasks;
      return tasks?.[index]?.run;
    },
    stats() {
      const now = clock();
      const from = Math.floor((now - RATE_WINDOW_MS) / RATE_BUCKET_MS) * RATE_BUCKET_MS;
      const n = RATE_WINDOW_MS / RATE_BUCKET_MS + 1;
      const executed = new Array<number>(n).fill(0);
      const replayedRate = new Array<number>(n).fill(0);
      for (const [at, b] of buckets) {
        if (at < from) {
          buckets.delete(at);
          continue;
        }
        const i = Math.min(n - 1, (at - from) / RATE_BUCKET_MS);
        executed[i]! += b.executed;
        replayedRate[i]! += b.replayed;
      }
      let inFlight = 0;
      let running = 0;
      for (const wf of workflows.values()) {
        if (wf.status === 'running') running++;
        for (const t of wf.tasks) if (t.state === 'ready') inFlight++;
      }
      return {
        streams: streams.map((stream) => {
          const partitions = offsets.get(stream) ?? {};
          return {
            stream,
            partitions,
            records: Object.values(partitions).reduce((x, y) => x + y, 0),
          };
        }),
        receipts,
        replayed,
        rate: { bucketMs: RATE_BUCKET_MS, from, executed, replayed: replayedRate },
        inFlight,
        workflows: { kept: workflows.size, running, evicted },
        deadLetters: deadLetters.slice(),
        deadLettersTotal,
      };
    },
    noteRetry(instruction) {
      retries.set(instruction, (retries.get(instruction) ?? 0) + 1);
      if (retries.size > 10_000) retries.delete(retries.keys().next().value!);
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closing ??= (async () => {
        controller.abort();
        for (const s of subscriptions) s.unsubscribe();
        listeners.clear();
        await started.catch(() => undefined);
      })();
      return closing;
    },
    [Symbol.asyncDispose]() {
      return model.close();
    },
  };
  return model;
}
