/**
 * The node: the processors wired to a {@link Log}.
 *
 * ```
 * invocations ─┬─ schedule ──► invocations (task/ready, workflow end) · pure (replayed receipts)
 * pure ────────┘      ▲
 *   ▲                 └─ memo (fold of pure / effects.pure)
 *   └── execute ◄── invocations (task/ready, consumer "executor")
 * ```
 *
 * Start-up is recovery: the receipt streams are folded into the memo, `invocations` into the
 * scheduler, everything due but never written is written, and only then do the processors
 * follow the streams. The same path rebuilds a node from offset 0 after a crash, so "replay
 * mode" is not a special mode.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import {
  Subject,
  filter,
  finalize,
  merge,
  mergeMap,
  tap,
  type Observable,
  type Subscription,
} from 'rxjs';
import type { CID } from 'multiformats/cid';
import type { Log, LogRecord, Positions } from '../../streams/log.ts';
import { deadLetterFor } from '../../streams/dead-letter.ts';
import { createTopology, type Topology, type TopologyInit } from '../../streams/topology.ts';
import {
  decodeEvent,
  type NodeEvent,
  type ReceiptEvent,
  type TaskReadyEvent,
  type WorkflowEndedEvent,
} from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow, type ParsedWorkflow } from '../../schemas/model.ts';
import { createMemo, type Memo } from './memo.ts';
import {
  createScheduler,
  DEFAULT_AWAIT_TIMEOUT_MS,
  type SchedulerOutput,
  type UnknownAwait,
} from './schedule-tasks.ts';
import { executeTasks, type ExecuteProgress, type TaskRunner } from './execute-tasks.ts';
import {
  consume,
  createAppender,
  createCommitTracker,
  createEcho,
  deadLetteredPositions,
  decodeRecord,
  eventRecord,
  positionKey,
  follow,
  readToEnd,
  routingOf,
  type EventRecord,
} from './records.ts';
import { readRetryPolicy, withRetry, type RetryOptions, type TaskRetryPolicy } from '../retry.ts';
import type { Authority, ProofMap } from '../auth/types.ts';
import { rejectionRecord } from './rejections.ts';
import { WorkflowNotRunningError, cancelEvent } from './cancel.ts';
import { attachEffects, type EffectsProgress } from '../effects/engine.ts';
import type { EffectRunner } from '../effects/effect-runner.ts';
import { receiptStreamOf } from '../effects/ops.ts';

/** Construction options of {@link createNode}. */
export interface NodeInit {
  /** The streams. The node does not close it. */
  log: Log;
  /** The Wasm runtime. */
  runner: TaskRunner;
  /** Stream names and partitions. */
  topology?: Topology | TopologyInit;
  /** Written as `executor` on receipts. @default a random UUID */
  nodeId?: string;
  /** Tasks executed at once. @default 16 */
  concurrency?: number;
  /** @default 600_000 */
  workflowTimeoutMs?: number;
  /**
   * How long a workflow may wait for an await that nothing known can resolve (no task of it,
   * no running workflow, not in the memo) before it fails. @default 60_000
   */
  awaitTimeoutMs?: number;
  /** How often deadlines are checked. @default 1_000 */
  tickIntervalMs?: number;
  /** How often consumed positions are committed. @default 50 */
  commitIntervalMs?: number;
  /** Retries of the node's own reads at start-up (a broker that is not serving yet). */
  retry?: RetryOptions;
  /**
   * Retries of a task's retryable failures when its `meta.retry` does not say.
   * @default DEFAULT_TASK_RETRY (3 attempts, 100 ms backoff doubling up to 5 s)
   */
  taskRetry?: TaskRetryPolicy;
  /** Run the executor (false: a scheduling-only node). @default true */
  execute?: boolean;
  /**
   * Runs effect ops (`http/*`, `random/bytes`, `time/now`; see `processors/effects/`). Without
   * it effect tasks get an `unsupported` error receipt.
   */
  effects?: EffectRunner;
  onProgress?: (event: NodeProgress) => void;
  /**
   * Who may run what, and who signed what (`processors/auth/`). With it, submissions are
   * authorized before anything is appended (refused: an `AuthError` from `submit`, a
   * dead-letter for one read from the stream), in `ucan` mode a ready task runs only for a
   * workflow authorized here, every receipt written is signed, and receipts read from the
   * streams are verified before they reach the memo (refused: dead-letter). Without it the
   * node behaves as `open` and writes unsigned receipts.
   */
  authority?: Authority;
  /**
   * Scale-out seam (`processors/cluster/`): with several nodes on one namespace, each workflow
   * is scheduled by one owner, and released tasks reach executors only through the shared
   * `executor` consumer (no local fast path), so the work spreads over the nodes.
   */
  cluster?: ClusterSeam;
}

/** What the node asks of a cluster (see `processors/cluster/`). */
export interface ClusterSeam {
  /** Whether this node schedules `workflow` now. */
  owns(workflow: string): boolean;
  /** Calls `listener` whenever ownership may have changed; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}

/** Progress events of a node. */
export type NodeProgress =
  | ExecuteProgress
  | EffectsProgress
  | { type: 'node:recovered'; receipts: number; invocations: number; emitted: number; ms: number }
  | { type: 'node:dead-letter'; stream: string; partition: number; offset: number; reason: string }
  | { type: 'node:error'; error: unknown }
  | {
      /** A submitted workflow awaits instructions nothing known produces (see submit). */
      type: 'node:await-unknown';
      workflow: string;
      awaits: UnknownAwait[];
      timeoutMs: number;
    };

/** A running node. */
export interface IpvmNode {
  /** The in-process memo (instruction CID → receipt). */
  readonly memo: Memo;
  readonly topology: Topology;
  readonly nodeId: string;
  /**
   * Validates a workflow and appends it to `invocations`. The result's `warnings` also name
   * each await that no task of the workflow, no running workflow and the memo can resolve
   * (located: task path and CID); such a workflow fails after `awaitTimeoutMs` unless the
   * receipt appears. `name` is shown by `ipvm status` (a `{name, workflow}` wrapper's wins).
   */
  submit(
    workflow: Uint8Array | string | IpldValue,
    options?: { signal?: AbortSignal; name?: string | null; proofs?: ProofMap },
  ): Promise<ParsedWorkflow>;
  /** Live receipt events (all, or one workflow's), from now on. */
  receipts(workflow?: CID): Observable<ReceiptEvent>;
  /** Live workflow end events. */
  ends(): Observable<WorkflowEndedEvent>;
  /**
   * Asks the scheduler to cancel a running workflow (appends a `workflow/cancel` request): no
   * task of it is released any more, tasks already running finish, then it ends `failed` with a
   * reason starting `cancelled`. Resolves once the request is appended; a second request for
   * the same run changes nothing. @throws {WorkflowNotRunningError} ended or unknown
   */
  cancel(workflow: CID, options?: { reason?: string | null; signal?: AbortSignal }): Promise<void>;
  /** Resolves when the workflow ends (at once if it already has). */
  ended(workflow: CID, options?: { signal?: AbortSignal }): Promise<WorkflowEndedEvent>;
  /** Graceful drain: stops reading, finishes appends and commits. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const EXECUTOR = 'executor';

/** Creates a node and runs its recovery; it is processing when the promise resolves. */
export async function createNode(init: NodeInit): Promise<IpvmNode> {
  const { log, runner } = init;
  const topology =
    'name' in (init.topology ?? {})
      ? (init.topology as Topology)
      : createTopology(init.topology as TopologyInit | undefined);
  const nodeId = init.nodeId ?? randomUUID();
  const memo = createMemo();
  // Workflows submitted here were parsed once already: the scheduler reuses that.
  const parsedSubmissions = new WeakMap<object, ParsedWorkflow>();
  const scheduler = createScheduler({
    memo,
    nodeId,
    workflowTimeoutMs: init.workflowTimeoutMs,
    awaitTimeoutMs: init.awaitTimeoutMs,
    parse: (event) => parsedSubmissions.get(event),
    hasEnded: (workflow) => endedWorkflows.has(workflow),
    owns: init.cluster === undefined ? undefined : (workflow) => init.cluster!.owns(workflow),
  });
  const appender = createAppender(log);
  const echo = createEcho();
  const authority = init.authority;
  /** Workflows authorized here (`ucan` mode: only their tasks run). */
  const authorized = new Set<string>();
  /** Authorizes a submission read from the stream (not submitted here); the error refuses it. */
  const authorizeEvent = (event: NodeEvent): Error | undefined => {
    if (authority === undefined || event.type !== 'workflow/submitted') return undefined;
    const key = event.workflow.toString();
    if (authorized.has(key)) return undefined;
    try {
      const parsed =
        parsedSubmissions.get(event) ?? parseWorkflow(event.body as unknown as IpldValue);
      authority.authorize(parsed, event.proofs, { atMs: event.at });
      authorized.add(key);
      return undefined;
    } catch (err) {
      return err as Error;
    }
  };
  /** Appends events, remembering them so that reading them back needs no decoding. */
  const appendEvents = async (
    stream: string,
    events: NodeEvent[],
    keys: string[],
  ): Promise<void> => {
    if (authority !== undefined && events.some((e) => e.type === 'receipt' && e.sig === undefined))
      events = await Promise.all(
        events.map((e) =>
          e.type === 'receipt' && e.sig === undefined ? authority.sign(e) : Promise.resolve(e),
        ),
      );
    const results = await appender.append(
      stream,
      events.map((e, i) => eventRecord(keys[i]!, e)),
    );
    echo.remember(stream, results, events);
  };
  // Reading stops first on close; tasks already running finish and are written.
  const controller = new AbortController();
  const signal = controller.signal;
  let executorDone: Promise<void> = Promise.resolve();
  const progress = init.onProgress ?? (() => undefined);
  const receipts$ = new Subject<ReceiptEvent>();
  const ends$ = new Subject<WorkflowEndedEvent>();
  /** Ended workflows: the event, or its bytes until someone asks (recovery decodes lazily). */
  const endedWorkflows = new Map<string, WorkflowEndedEvent | Uint8Array>();
  const endedEvent = (key: string): WorkflowEndedEvent | undefined => {
    const v = endedWorkflows.get(key);
    if (!(v instanceof Uint8Array)) return v;
    const event = decodeEvent(v) as WorkflowEndedEvent;
    endedWorkflows.set(key, event);
    return event;
  };
  /** Workflows submitted here again after they ended: ended() waits for the new end. */
  const rerunning = new Set<string>();
  const note = (event: NodeEvent): void => {
    if (event.type === 'workflow/completed' || event.type === 'workflow/failed')
      endedWorkflows.set(event.workflow.toString(), event);
    if (event.type === 'workflow/submitted') endedWorkflows.delete(event.workflow.toString());
  };
  const subscriptions: Subscription[] = [];
  const S = {
    invocations: topology.name('invocations'),
    pure: topology.name('pure'),
    effectsPure: topology.name('effects.pure'),
    effectsManaged: topology.name('effects.managed'),
    deadLetter: topology.name('dead-letter'),
  };
  const receiptStreams = [S.pure, S.effectsPure, S.effectsManaged];
  /** The stream a receipt goes to: `pure`, or the effect stream of its op. */
  const receiptStream = (e: ReceiptEvent): string => topology.name(receiptStreamOf(e.run.op));
  // Effects: a runner dispatching by op, and the outbox folded from effects.managed.
  const fx =
    init.effects === undefined
      ? undefined
      : attachEffects({
          wasm: runner,
          effects: init.effects,
          appendIntent: (intent) =>
            appendEvents(S.effectsManaged, [intent], [intent.instruction.toString()]),
          // In ucan mode a workflow a result asks for carries no proof and is refused: reported,
          // never allowed to stop the executor.
          submit: (workflow) =>
            node.submit(workflow).catch((err: unknown) => {
              if ((err as Error).name !== 'AuthError') throw err;
              fail(err);
            }),
          onProgress: (e) => progress(e),
        });

  // A broker under load may drop a connection while nodes start together: retry what is
  // retryable.
  await withRetry(() => log.ensureStreams(topology.streams), {
    attempts: 10,
    baseDelayMs: 100,
    ...init.retry,
  });

  // Bad records already dead-lettered (by an earlier run): recovery reads every stream from
  // offset 0 on each start, and each bad record must reach the dead-letter stream once.
  const deadLettered = await withRetry(() => deadLetteredPositions(log, S.deadLetter, signal), {
    attempts: 10,
    baseDelayMs: 100,
    ...init.retry,
    signal,
  });
  const deadLetter = (record: LogRecord, error: Error): Promise<unknown> => {
    const at = positionKey(record);
    if (deadLettered.has(at)) return Promise.resolve();
    deadLettered.add(at);
    progress({
      type: 'node:dead-letter',
      stream: record.stream,
      partition: record.partition,
      offset: record.offset,
      reason: error.message,
    });
    return Promise.all([
      appender.append(S.deadLetter, [deadLetterFor(record, error)]),
      // Its producer sees why, under its own key (processors/engine/rejections.ts).
      record.stream === S.invocations
        ? appender.append(S.invocations, [rejectionRecord(record, error)])
        : undefined,
    ]);
  };

  /** Ready tasks released by this node's scheduler, for its own executor. */
  let localTasks: Subject<{ record: LogRecord | null; event: TaskReadyEvent }> | undefined;
  const write = (outputs: SchedulerOutput[]): Promise<unknown> => {
    if (outputs.length === 0) return Promise.resolve();
    const inv: Array<TaskReadyEvent | WorkflowEndedEvent> = [];
    const byStream = new Map<string, ReceiptEvent[]>();
    for (const o of outputs) {
      if (o.stream === 'invocations') {
        inv.push(o.event);
        // Local fast path: run what this node released without waiting for the append to be
        // durable and read back. Correct without it: a task/ready lost in a crash is released
        // again on recovery, and the consumer below skips what already ran.
        // In a cluster, released tasks go through the shared consumer only (work sharing).
        if (
          o.event.type === 'task/ready' &&
          localTasks !== undefined &&
          init.cluster === undefined
        ) {
          localTasks.next({ record: null, event: o.event });
        }
      } else {
        const stream = receiptStream(o.event);
        const list = byStream.get(stream);
        if (list === undefined) byStream.set(stream, [o.event]);
        else list.push(o.event);
      }
    }
    const appendAll = (lists: Map<string, ReceiptEvent[]>): Promise<unknown> =>
      Promise.all([
        inv.length === 0 ? undefined : appendEvents(S.invocations, inv, inv.map(keyOf)),
        ...[...lists].map(([stream, list]) =>
          appendEvents(
            stream,
            list,
            list.map((e) => e.instruction.toString()),
          ),
        ),
      ]);
    // Receipts are signed first, so that a workflow's end is not appended before them.
    if (authority === undefined || byStream.size === 0) return appendAll(byStream);
    return Promise.all(
      [...byStream].map(
        async ([stream, list]) =>
          [stream, await Promise.all(list.map((e) => authority.sign(e)))] as const,
      ),
    ).then((signed) => appendAll(new Map(signed)));
  };

  const fail = (error: unknown): void => progress({ type: 'node:error', error });
  /** Folds an event into the scheduler; an event it rejects (e.g. a workflow whose tasks
   * repeat an instruction) goes to the dead-letter stream instead of stopping the node. */
  const schedule = (record: LogRecord, event: NodeEvent): void => {
    const refused = authorizeEvent(event);
    if (refused !== undefined) {
      deadLetter(record, refused).catch(fail);
      return;
    }
    let outputs: SchedulerOutput[];
    try {
      outputs = scheduler.apply(event);
    } catch (err) {
      deadLetter(record, err as Error).catch(fail);
      return;
    }
    write(outputs).catch(fail);
  };

  // --- recovery: fold everything written so far -------------------------------------------
  // Receipts go into the memo by their routing headers and are decoded only when needed.
  // Invocations are read once for their headers: only workflows that have not ended are
  // decoded and handed to the scheduler, which then writes whatever is due and missing.
  const started = performance.now();
  let seenReceipts = 0;
  let seenInvocations = 0;
  // A broker that just created the streams may not serve them yet: retry what is retryable
  // (a retried read starts over, so the folds below are idempotent).
  const recoveryRetry = { attempts: 10, baseDelayMs: 100, ...init.retry, signal };
  /** Bad records found while recovering: dead-lettered like on the live path. */
  const recoveryDeadLetters: Array<Promise<unknown>> = [];
  const receiptPositions: Positions[] = [];
  for (const stream of receiptStreams) {
    receiptPositions.push(
      await withRetry(
        () =>
          readToEnd(
            log,
            stream,
            (record) => {
              if (authority?.mode === 'ucan') {
                // Every receipt is decoded and its signature checked before the memo sees it.
                const d = decodeRecord(record);
                const refused =
                  d instanceof Error
                    ? d
                    : d.event.type === 'receipt'
                      ? authority.verifyForeign(d.event)
                      : undefined;
                if (refused !== undefined) {
                  recoveryDeadLetters.push(deadLetter(copyOf(record), refused));
                  return;
                }
                if (d instanceof Error || d.event.type !== 'receipt') return;
                seenReceipts++;
                memo.put(d.event);
                return;
              }
              const r = routingOf(record);
              if (fx !== undefined && stream === S.effectsManaged) {
                // The outbox needs intents and the outcomes that settle them.
                const d = decodeRecord(record);
                if (!(d instanceof Error)) fx?.outbox.observe(d.event);
              }
              if (r !== undefined) {
                if (r.type !== 'receipt') return;
                seenReceipts++;
                const bytes = record.value.slice();
                memo.putLazy(r, () => decodeEvent(bytes) as ReceiptEvent);
                return;
              }
              const d = decodeRecord(record);
              if (d instanceof Error) {
                recoveryDeadLetters.push(deadLetter(copyOf(record), d));
                return;
              }
              if (d.event.type !== 'receipt') return;
              seenReceipts++;
              memo.put(d.event);
            },
            signal,
          ),
        recoveryRetry,
      ),
    );
  }
  /** The latest submission of each workflow not ended: its record, decoded when known. */
  const submissions = new Map<string, { record: LogRecord; event?: NodeEvent }>();
  /** Task releases of each workflow's latest submission (a new submission starts afresh). */
  const releases = new Map<string, string[]>();
  /** Cancel requests of each workflow's latest submission, folded after it. */
  const cancels = new Map<string, LogRecord>();
  const invocationPositions = await withRetry(() => {
    submissions.clear();
    releases.clear();
    cancels.clear();
    return readToEnd(
      log,
      S.invocations,
      (record) => {
        let r = routingOf(record);
        let event: NodeEvent | undefined;
        if (r === undefined) {
          const d = decodeRecord(record);
          if (d instanceof Error) {
            recoveryDeadLetters.push(deadLetter(copyOf(record), d));
            return;
          }
          event = d.event;
          r = {
            type: event.type,
            workflow:
              'workflow' in event && event.workflow !== null ? event.workflow.toString() : '',
            instruction: event.type === 'task/ready' ? event.instruction.toString() : '',
            receipt: '',
            outcome: '',
          };
        }
        seenInvocations++;
        switch (r.type) {
          case 'workflow/submitted':
            submissions.set(r.workflow, { record: copyOf(record), event });
            endedWorkflows.delete(r.workflow);
            releases.delete(r.workflow);
            cancels.delete(r.workflow);
            break;
          case 'workflow/cancel':
            if (submissions.has(r.workflow) && !cancels.has(r.workflow))
              cancels.set(r.workflow, copyOf(record));
            break;
          case 'workflow/completed':
          case 'workflow/failed':
            submissions.delete(r.workflow);
            endedWorkflows.set(
              r.workflow,
              (event as WorkflowEndedEvent | undefined) ?? record.value.slice(),
            );
            break;
          case 'task/ready': {
            const list = releases.get(r.workflow);
            if (list === undefined) releases.set(r.workflow, [r.instruction]);
            else list.push(r.instruction);
            break;
          }
          default:
            break;
        }
      },
      signal,
    );
  }, recoveryRetry);
  for (const { record, event } of submissions.values()) {
    try {
      const e = event ?? decodeEvent(record.value);
      // In ucan mode a submission without a covering proof is refused here as when live.
      const refused = authorizeEvent(e);
      if (refused !== undefined) throw refused;
      scheduler.apply(e);
    } catch (err) {
      // Undecodable, or refused by the scheduler (e.g. an instruction twice): as when live.
      recoveryDeadLetters.push(deadLetter(record, err as Error));
    }
  }
  for (const [workflow, record] of cancels) {
    if (!submissions.has(workflow)) continue;
    try {
      scheduler.apply(decodeEvent(record.value));
    } catch (err) {
      recoveryDeadLetters.push(deadLetter(record, err as Error));
    }
  }
  await Promise.all(recoveryDeadLetters);
  // A release whose task got only a retryable failure is void: the task is released again.
  for (const [workflow, list] of releases) {
    if (!submissions.has(workflow)) continue;
    for (const instruction of list)
      if (!memo.attempted(instruction, workflow)) scheduler.released(workflow, instruction);
  }
  const due = scheduler.flush();
  await write(due);
  progress({
    type: 'node:recovered',
    receipts: seenReceipts,
    invocations: seenInvocations,
    emitted: due.length,
    ms: performance.now() - started,
  });

  // --- live: follow the streams ------------------------------------------------------------
  const decodeOrDeadLetter = (record: LogRecord): EventRecord[] => {
    const known = echo.recall(record);
    if (known !== undefined) return [{ record, event: known }];
    const d = decodeRecord(record);
    if (d instanceof Error) {
      deadLetter(record, d).catch(fail);
      return [];
    }
    return [d];
  };

  /** A receipt written elsewhere is verified first; a refused one is dead-lettered. */
  const receiptOrDeadLetter = (record: LogRecord): EventRecord[] => {
    const known = echo.recall(record);
    if (known !== undefined) return [{ record, event: known }];
    const decoded = decodeOrDeadLetter(record);
    const event = decoded[0]?.event;
    if (authority === undefined || event?.type !== 'receipt') return decoded;
    const refused = authority.verifyForeign(event);
    if (refused === undefined) return decoded;
    deadLetter(record, refused).catch(fail);
    return [];
  };

  // Receipts: memo, scheduler, subscribers.
  receiptStreams.forEach((stream, i) => {
    subscriptions.push(
      follow(log, stream, receiptPositions[i]!, signal)
        .pipe(mergeMap(receiptOrDeadLetter))
        .subscribe({
          next: ({ record, event }) => {
            fx?.outbox.observe(event);
            if (event.type !== 'receipt') return;
            memo.put(event);
            schedule(record, event);
            receipts$.next(event);
          },
          error: fail,
        }),
    );
  });

  // Invocations: scheduler and end notifications.
  subscriptions.push(
    follow(log, S.invocations, invocationPositions, signal)
      .pipe(mergeMap(decodeOrDeadLetter))
      .subscribe({
        next: ({ record, event }) => {
          schedule(record, event);
          note(event);
          if (event.type === 'workflow/completed' || event.type === 'workflow/failed') {
            rerunning.delete(event.workflow.toString());
            ends$.next(event);
          }
        },
        error: fail,
      }),
  );

  // Executor: a named consumer, so several nodes share the work and restarts resume.
  const tracker = createCommitTracker();
  if (init.execute !== false) {
    let finished!: () => void;
    executorDone = new Promise((resolve) => (finished = resolve));
    subscriptions.push(
      merge(
        consume(log, S.invocations, EXECUTOR, signal).pipe(
          tap((record) => tracker.begin(record)),
          mergeMap((record) => {
            const d = echo.recall(record) ?? decodeRecord(record);
            const event = d instanceof Error ? d : 'type' in d ? d : d.event;
            if (event instanceof Error || event.type !== 'task/ready') {
              tracker.end(record);
              return [];
            }
            if (authority?.mode === 'ucan' && !authorized.has(event.workflow?.toString() ?? '')) {
              // A ready task no authorized submission released (e.g. appended by a producer).
              const why = new Error(
                `task/ready of instruction ${event.instruction.toString()} refused: no authorized submission of workflow ${event.workflow?.toString() ?? '(none)'} on this node`,
              );
              deadLetter(record, why).then(() => tracker.end(record), fail);
              return [];
            }
            return [{ record: record, event }];
          }),
        ),
        (localTasks = new Subject()),
      )
        .pipe(
          executeTasks<{ record: LogRecord | null; event: TaskReadyEvent }>({
            memo,
            runner: fx?.runner ?? runner,
            nodeId,
            concurrency: init.concurrency,
            taskRetry: init.taskRetry,
            onProgress: progress,
          }),
          mergeMap(async ({ item, receipt }) => {
            // Effects a result asks for are submitted before the result is written.
            if (receipt !== null) await fx?.emit(receipt);
            if (receipt !== null)
              await appendEvents(
                receiptStream(receipt),
                [receipt],
                [receipt.instruction.toString()],
              );
            if (item.record !== null) tracker.end(item.record);
          }),
          finalize(() => finished()),
        )
        .subscribe({ error: fail }),
    );
    // Managed effects whose intent has no outcome: sent again, with the same key.
    for (const ready of fx?.outbox.pending() ?? []) localTasks.next({ record: null, event: ready });
  }
  const commit = async (): Promise<void> => {
    const positions = tracker.take();
    if (positions !== null) await log.commit(EXECUTOR, S.invocations, positions);
  };
  const commitTimer = setInterval(() => void commit().catch(fail), init.commitIntervalMs ?? 50);
  // Ownership moved (a node joined or left): write what is due for the runs owned now.
  const unwatchCluster = init.cluster?.onChange(() => void write(scheduler.flush()).catch(fail));
  const tickTimer = setInterval(
    () => void write(scheduler.tick()).catch(fail),
    init.tickIntervalMs ?? 1_000,
  );

  let closing: Promise<void> | undefined;
  const node: IpvmNode = {
    memo,
    topology,
    nodeId,
    async submit(workflow, options) {
      const parsed = parseWorkflow(workflow);
      for (const t of parsed.tasks)
        readRetryPolicy(t.task.meta, undefined, `tasks[${t.index}].meta`);
      const key = parsed.cid.toString();
      const at = Date.now();
      authority?.authorize(parsed, options?.proofs, { atMs: at }); // throws AuthError
      authorized.add(key);
      const event: NodeEvent = {
        type: 'workflow/submitted',
        workflow: parsed.cid,
        body: parsed.workflow,
        name: parsed.name ?? options?.name ?? null,
        ...(options?.proofs === undefined ? {} : { proofs: options.proofs }),
        at,
      };
      const unknown = scheduler.unknownAwaits(parsed);
      const awaitTimeoutMs = init.awaitTimeoutMs ?? DEFAULT_AWAIT_TIMEOUT_MS;
      if (unknown.length > 0) {
        progress({
          type: 'node:await-unknown',
          workflow: key,
          awaits: unknown,
          timeoutMs: awaitTimeoutMs,
        });
      }
      parsedSubmissions.set(event, parsed); // the scheduler reuses this parse
      if (endedWorkflows.has(key)) rerunning.add(key);
      await appendEvents(S.invocations, [event], [key]);
      options?.signal?.throwIfAborted();
      if (unknown.length === 0) return parsed;
      return {
        ...parsed,
        warnings: [
          ...parsed.warnings,
          ...unknown.map((u) => unknownAwaitWarning(u, awaitTimeoutMs)),
        ],
      };
    },
    receipts(workflow) {
      const key = workflow?.toString();
      return key === undefined
        ? receipts$.asObservable()
        : receipts$.pipe(filter((r) => r.workflow?.toString() === key));
    },
    async cancel(workflow, options) {
      const key = workflow.toString();
      if (!scheduler.running(key))
        throw new WorkflowNotRunningError(key, endedWorkflows.has(key) ? 'ended' : 'unknown');
      const event = cancelEvent(workflow, options?.reason ?? null, Date.now());
      await appendEvents(S.invocations, [event], [key]);
      options?.signal?.throwIfAborted();
    },
    ends: () => ends$.asObservable(),
    ended(workflow, options) {
      const key = workflow.toString();
      return new Promise((resolve, reject) => {
        const sub = ends$.pipe(filter((e) => e.workflow.toString() === key)).subscribe((e) => {
          sub.unsubscribe();
          resolve(e);
        });
        const known = rerunning.has(key) ? undefined : endedEvent(key);
        if (known !== undefined) {
          sub.unsubscribe();
          resolve(known);
        }
        options?.signal?.addEventListener(
          'abort',
          () => {
            sub.unsubscribe();
            reject(options.signal!.reason as Error);
          },
          { once: true },
        );
      });
    },
    close() {
      closing ??= (async () => {
        clearInterval(tickTimer);
        clearInterval(commitTimer);
        unwatchCluster?.();
        controller.abort();
        localTasks?.complete();
        localTasks = undefined;
        await executorDone;
        for (const s of subscriptions) s.unsubscribe();
        await appender.drain();
        await commit().catch(fail);
        receipts$.complete();
        ends$.complete();
      })();
      return closing;
    },
    [Symbol.asyncDispose]() {
      return node.close();
    },
  };
  return node;
}

/** The located warning for an await nothing known can resolve. */
export function unknownAwaitWarning(u: UnknownAwait, timeoutMs: number): string {
  return `${u.path}: awaits ${u.instruction}, which is not produced by this workflow and not in the memo; the workflow fails if its receipt has not appeared within ${timeoutMs} ms`;
}

/** A record whose bytes outlive the read (a backend may reuse its buffers). */
function copyOf(record: LogRecord): LogRecord {
  return { ...record, value: record.value.slice() };
}

function keyOf(event: TaskReadyEvent | WorkflowEndedEvent): string {
  return event.type === 'task/ready' ? event.instruction.toString() : event.workflow.toString();
}
