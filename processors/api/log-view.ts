// Read-side views of the streams for the CLI: decoded events, and the fold of workflows and their
// receipts that `ipvm status` and `ipvm graph` print. Everything here reads; nothing appends.
import type { Log, ReadFrom } from '../../streams/log.ts';
import { StreamNotFoundError } from '../../streams/errors.ts';
import { receiptStreams, type Topology } from '../../streams/topology.ts';
import type { NodeEvent, ReceiptEvent } from '../../schemas/events.ts';
import { decodeInvocation } from '../../schemas/submission.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { effectKind } from '../effects/ops.ts';
import { outcomeText } from './outcome-text.ts';
import type { TaskView, WorkflowView } from './workflow-view.ts';

export type { TaskView, WorkflowView };

/**
 * Decoded events of `streams`, every partition, in per-partition order. Undecodable records are
 * skipped (the node dead-letters them). A stream that does not exist yet reads as empty unless
 * `follow` is set, in which case it is polled for until it appears.
 */
export async function* readEvents(
  log: Log,
  streams: readonly string[],
  options: { from?: ReadFrom; follow?: boolean; signal?: AbortSignal } = {},
): AsyncGenerator<NodeEvent> {
  const queue: NodeEvent[] = [];
  let wake: (() => void) | undefined;
  let active = streams.length;
  let failure: Error | undefined;
  const pump = async (stream: string): Promise<void> => {
    try {
      for (;;) {
        try {
          await log.partitions(stream, { signal: options.signal });
          break;
        } catch (err) {
          if (!(err instanceof StreamNotFoundError) || options.follow !== true) throw err;
          await new Promise((r) => setTimeout(r, 200));
          if (options.signal?.aborted === true) return;
        }
      }
      for await (const record of log.read(stream, {
        from: options.from ?? 'earliest',
        follow: options.follow,
        signal: options.signal,
      })) {
        let event: NodeEvent;
        try {
          event = decodeInvocation(record.value, record.timestamp);
        } catch {
          continue;
        }
        queue.push(event);
        wake?.();
      }
    } catch (err) {
      if (!(err instanceof StreamNotFoundError))
        failure ??= err instanceof Error ? err : new Error(String(err));
    } finally {
      active--;
      wake?.();
    }
  };
  for (const s of streams) void pump(s);
  for (;;) {
    while (queue.length > 0) yield queue.shift()!;
    if (failure !== undefined) throw failure;
    if (active === 0) return;
    await new Promise<void>((resolve) => (wake = resolve));
    wake = undefined;
  }
}

/** The tasks of a workflow body, with no receipts yet. */
export function tasksOf(body: Uint8Array | string | IpldValue): TaskView[] {
  const parsed = parseWorkflow(body);
  const indexOf = new Map(parsed.tasks.map((t) => [t.instruction.toString(), t.index]));
  return parsed.tasks.map((t) => {
    const input = t.task.run.input as { func?: unknown } | null;
    const inside: TaskView['awaits'] = [];
    const external: string[] = [];
    for (const a of t.awaits) {
      const i = indexOf.get(a.instruction.toString());
      if (i === undefined) external.push(a.instruction.toString());
      else inside.push({ task: i, selector: a.selector });
    }
    return {
      index: t.index,
      instruction: t.instruction.toString(),
      func: typeof input?.func === 'string' ? input.func : `${t.task.run.op} ${t.task.run.rsc}`,
      ...(effectKind(t.task.run.op) === undefined ? {} : { effect: effectKind(t.task.run.op) }),
      awaits: inside,
      external,
      status: 'pending',
      replayed: false,
      receipt: null,
    };
  });
}

/** Receipts by instruction: the first receipt of each, and the workflows it was written for. */
export interface ReceiptIndex {
  /** Any receipt of the instruction (the memo's view). */
  byInstruction: Map<string, ReceiptEvent>;
  /** The receipt written for a given workflow: key `${workflow} ${instruction}`. */
  byWorkflow: Map<string, ReceiptEvent>;
  /** Receipts replayed from the memo for each workflow, over all its runs. */
  replays: Map<string, number>;
}

export function emptyReceiptIndex(): ReceiptIndex {
  return { byInstruction: new Map(), byWorkflow: new Map(), replays: new Map() };
}

/** A retryable failure (never memoized): a later receipt of the same task supersedes it. */
function transient(r: ReceiptEvent): boolean {
  const v = r.body.out[1] as { retryable?: unknown } | null;
  return r.body.out[0] === 'error' && v?.retryable === true;
}

export function indexReceipt(index: ReceiptIndex, r: ReceiptEvent): void {
  const instruction = r.instruction.toString();
  const first = index.byInstruction.get(instruction);
  if (first === undefined || (transient(first) && !transient(r)))
    index.byInstruction.set(instruction, r);
  const workflow = r.workflow?.toString() ?? '';
  const key = `${workflow} ${instruction}`;
  const mine = index.byWorkflow.get(key);
  if (mine === undefined || (transient(mine) && !transient(r))) index.byWorkflow.set(key, r);
  if (r.replayed) index.replays.set(workflow, (index.replays.get(workflow) ?? 0) + 1);
}

/** Marks the tasks' status from receipts: the workflow's own first, else the memo's. */
export function applyReceipts(
  workflow: string,
  tasks: TaskView[],
  index: ReceiptIndex,
  running = false,
): void {
  for (const t of tasks) {
    const r =
      index.byWorkflow.get(`${workflow} ${t.instruction}`) ??
      index.byInstruction.get(t.instruction);
    // A retryable failure of an earlier run is tried again: pending while the workflow runs.
    if (r === undefined || (running && transient(r))) continue;
    t.status = r.body.out[0];
    t.replayed = r.replayed || r.workflow?.toString() !== workflow;
    t.receipt = r.receipt.toString();
    t.output = outcomeText(r.body.out);
  }
}

/** Reads the streams to their current end and folds them into workflow views, oldest first. */
export async function readWorkflows(
  log: Log,
  topology: Topology,
  options: { signal?: AbortSignal } = {},
): Promise<WorkflowView[]> {
  const receipts = emptyReceiptIndex();
  const workflows = new Map<string, WorkflowView>();
  for await (const event of readEvents(
    log,
    [topology.name('invocations'), ...receiptStreams(topology)],
    options,
  )) {
    switch (event.type) {
      case 'receipt':
        indexReceipt(receipts, event);
        break;
      case 'workflow/submitted': {
        const key = event.workflow.toString();
        const known = workflows.get(key);
        if (known !== undefined) {
          known.submissions++;
          known.status = 'running';
          known.name = event.name ?? known.name;
          known.submittedAt = event.at;
          known.endedAt = null;
          known.reason = null;
          break;
        }
        let tasks: TaskView[];
        try {
          tasks = tasksOf(event.body as unknown as IpldValue);
        } catch {
          tasks = [];
        }
        workflows.set(key, {
          workflow: key,
          name: event.name,
          status: 'running',
          submissions: 1,
          submittedAt: event.at,
          endedAt: null,
          reason: null,
          tasks,
          done: 0,
          ok: 0,
          errors: 0,
          replayed: 0,
          unknownAwaits: [],
        });
        break;
      }
      case 'workflow/completed':
      case 'workflow/failed': {
        const w = workflows.get(event.workflow.toString());
        if (w === undefined) break;
        w.status = event.type === 'workflow/completed' ? 'completed' : 'failed';
        w.endedAt = event.at;
        w.reason = event.reason;
        // A re-run references the receipts an earlier run wrote instead of writing them again.
        if (event.replayed !== undefined)
          receipts.replays.set(
            w.workflow,
            (receipts.replays.get(w.workflow) ?? 0) + event.replayed,
          );
        break;
      }
      default:
        break;
    }
  }
  const out = [...workflows.values()];
  for (const w of out) {
    applyReceipts(w.workflow, w.tasks, receipts, w.status === 'running');
    w.done = w.tasks.filter((t) => t.status !== 'pending').length;
    w.ok = w.tasks.filter((t) => t.status === 'ok').length;
    w.errors = w.tasks.filter((t) => t.status === 'error').length;
    if (w.status === 'running') {
      const produced = new Set(out.flatMap((o) => o.tasks.map((t) => t.instruction)));
      w.unknownAwaits = w.tasks.flatMap((t) =>
        t.status !== 'pending'
          ? []
          : t.external
              .filter((cid) => !produced.has(cid) && !receipts.byInstruction.has(cid))
              .map((cid) => `#${t.index} awaits ${cid}`),
      );
    }
    // Every receipt replayed for it, over all its runs (a re-run replays each task once).
    w.replayed = Math.max(
      receipts.replays.get(w.workflow) ?? 0,
      w.tasks.filter((t) => t.replayed).length,
    );
  }
  return out.sort((a, b) => a.submittedAt - b.submittedAt);
}

/** Reads every receipt (the receipt streams and `invocations`) to the end into an index. */
export async function readReceipts(
  log: Log,
  topology: Topology,
  options: { signal?: AbortSignal } = {},
): Promise<ReceiptIndex> {
  const index = emptyReceiptIndex();
  const streams = [...receiptStreams(topology), topology.name('invocations')];
  for await (const event of readEvents(log, streams, options)) {
    if (event.type === 'receipt') indexReceipt(index, event);
  }
  return index;
}
