/**
 * The state the engine's stages share — memo, scheduler, appender, the ended-workflow
 * registry — and the few operations every stage needs: append events (signed when there is an
 * authority), write what the scheduler emits, fold an event into the scheduler, dead-letter a
 * bad record once. Recovery (`recovery.ts`), the live follow (`live.ts`) and the executor
 * (`executor-stage.ts`) are built on it; `node.ts` is the facade over all three.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { Subject } from '../rx/index.ts';
import type { AppendRecord, AppendResult, Log, LogRecord, Positions } from '../../streams/log.ts';
import { deadLetterFor } from '../../streams/dead-letter.ts';
import {
  createTopology,
  receiptStreams,
  type Topology,
  type TopologyInit,
} from '../../streams/topology.ts';
import {
  type NodeEvent,
  type ReceiptEvent,
  type TaskReadyEvent,
  type WorkflowEndedEvent,
  type WorkflowSubmittedEvent,
} from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow, WASM_RUN, type ParsedWorkflow } from '../../schemas/model.ts';
import { attached, type Attached } from '../../schemas/attached.ts';
import { createMemo, type OwnedMemo } from './memo.ts';
import { createEndedRegistry, type EndedRegistry } from './ended.ts';
import { createScheduler, type Scheduler, type SchedulerOutput } from './schedule-tasks.ts';
import { BodyPositions } from './submission-body.ts';
import { KeyIndex } from './key-index.ts';
import { createAppender, type Appender } from './appender.ts';
import { createOwnEnds, type OwnEnds } from './own-ends.ts';
import { createEcho, type Echo } from './echo.ts';
import { eventRecord } from './envelope.ts';
import { createBarrier } from './barrier.ts';
import { Fifo, nextTurn, sliceOver } from './operators.ts';
import { deadLetteredPositions, positionKey } from './dead-letters.ts';
import { createReadyLater, DEFAULT_READY_RECORD_AFTER_MS, type ReadyLater } from './ready-later.ts';
import { withRetry } from '../retry.ts';
import type { Authority, ProofMap } from '../auth/types.ts';
import { rejectionRecord } from './rejections.ts';
import { attachEffects, type AttachedEffects } from '../effects/engine.ts';
import { receiptStreamOf } from '../effects/ops.ts';
import type { NodeInit, NodeProgress } from './types.ts';
import { RenewingMap } from '../renewing.ts';

/** Events encoded and handed to the log between checks of the time slice in a long append. */
const ENCODE_CHUNK = 256;

/** A ready task handed to the executor: read from the log, or released here (`record` null). */
export interface ReadyItem {
  record: LogRecord | null;
  event: TaskReadyEvent;
}

/** The engine's shared state and operations (see the module doc). */
export interface Core {
  readonly init: NodeInit;
  readonly log: Log;
  readonly topology: Topology;
  readonly nodeId: string;
  readonly memo: OwnedMemo;
  readonly scheduler: Scheduler;
  readonly authority: Authority | undefined;
  readonly appender: Appender;
  readonly echo: Echo;
  /** The node's stream names. */
  readonly streams: {
    invocations: string;
    pure: string;
    effectsPure: string;
    effectsManaged: string;
    deadLetter: string;
    /** The three receipt streams, in the order recovery folds them. */
    receipts: string[];
  };
  /** Stops every read when aborted (close). */
  readonly signal: AbortSignal;
  abort: () => void;
  /** Effects: the runner dispatching by op and the outbox (absent without an effect runner). */
  readonly fx: AttachedEffects | undefined;
  progress: (event: NodeProgress) => void;
  /** Reports an error that must not stop the node. */
  fail: (error: unknown) => void;
  /** Submissions parsed here: the scheduler reuses the parse (kept on the event: `attached`). */
  readonly parsedSubmissions: Attached<ParsedWorkflow>;
  /**
   * Where each workflow's body was last written on `invocations` (from recovery and the live
   * follow): a re-submission references it instead of copying it (`submission-body.ts`).
   */
  readonly bodies: BodyPositions;
  /**
   * Workflows authorized here in `ucan` mode: only their tasks run. Empty in `open` mode, where
   * nothing is checked (an entry is kept for the life of the process).
   */
  readonly authorized: Set<string>;
  /**
   * Authorizes a submission made here (`IpvmNode.submit`) at `atMs`.
   * @throws {AuthError} the proofs do not cover it (`ucan` mode)
   */
  authorizeSubmission(parsed: ParsedWorkflow, proofs: ProofMap | undefined, atMs: number): void;
  /** Authorizes a submission read from the stream; the error refuses it. */
  authorizeEvent(event: NodeEvent): Error | undefined;
  /**
   * Appends a receipt where it belongs: a computed one on `pure` or the effect stream of its
   * op, keyed by its instruction; a replayed one on `invocations`, keyed by its workflow (see
   * {@link receiptKey}).
   */
  appendReceipt(receipt: ReceiptEvent): Promise<void>;
  /** Appends events (receipts signed first), remembering them for the read back. */
  appendEvents(stream: string, events: NodeEvent[], keys: string[]): Promise<void>;
  /** Writes what the scheduler emitted; ready tasks also go to the local executor. */
  write(outputs: SchedulerOutput[]): Promise<unknown>;
  /**
   * A submission made here (outside a cluster) of a run the memo answers wholly: folded into the
   * scheduler at once and appended together with its end (and any replayed receipt it writes)
   * in one append, instead of appended, read back, folded, and its end appended after a second
   * fsync. Its end is keyed like it, so it is never durable before it. Any other submission is
   * appended and folded when read back: none of its tasks starts before it is durable.
   */
  submitEarly(event: WorkflowSubmittedEvent): Promise<unknown>;
  /**
   * Submissions folded by {@link Core.submitEarly} not yet read back, by `workflow@at`: the live
   * follow does not fold them again.
   */
  readonly foldedEarly: Map<string, number>;
  /** Folds an event into the scheduler; one it refuses is dead-lettered. */
  schedule(record: LogRecord, event: NodeEvent): void;
  /** Dead-letters a bad record once (and tells an `invocations` producer why). */
  deadLetter(record: LogRecord, error: Error): Promise<unknown>;
  /**
   * Pipelining: folds a receipt computed here into the memo and the scheduler before its append
   * is durable, so a chain's next pure step starts at once. See {@link Core.durable}.
   */
  foldEarly(receipt: ReceiptEvent, append: Promise<void>): void;
  /**
   * Receipts folded early, and replayed receipts written here, given to subscribers once durable
   * (in the order they were computed, which across partitions the read back does not keep); the
   * live follow skips them. By {@link announcedKey}.
   */
  readonly announced: RenewingMap<string, 'pending' | 'read' | 'emitted'>;
  /**
   * Ends appended here, given out once durable rather than when read back; the live follow
   * skips those (`own-ends.ts`). Absent in a cluster: every end is given out when read back.
   */
  readonly ownEnds: OwnEnds | undefined;
  /** Next offset per partition the live follow reads, by stream (`IpvmNode.behind`). */
  readonly followed: Map<string, Positions>;
  /** Resolves when every receipt folded early so far is durable. */
  durable(): Promise<void>;
  /** Ready tasks released by this node's scheduler, for its own executor (set by it). */
  localTasks: Subject<ReadyItem> | undefined;
  /**
   * With pipelining: the task/ready records of pure tasks handed to this node's executor,
   * written only for those still running a moment later (see `ready-later.ts`).
   */
  readonly readyLater: ReadyLater | undefined;
  /** Where effects submit the workflows a result asks for (set by the facade). */
  submitFollowUp: (workflow: IpldValue) => Promise<unknown>;
  readonly receipts$: Subject<ReceiptEvent>;
  readonly ends$: Subject<WorkflowEndedEvent>;
  readonly ended: EndedRegistry;
  /** Every workflow's CID, held once for the memo, the ended registry and the body positions. */
  readonly workflows: KeyIndex;
}

/** Builds the shared state: creates the streams and reads which records are dead-lettered. */
export async function createCore(init: NodeInit): Promise<Core> {
  const { log } = init;
  const topology =
    'name' in (init.topology ?? {})
      ? (init.topology as Topology)
      : createTopology(init.topology as TopologyInit | undefined);
  const nodeId = init.nodeId ?? randomUUID();
  // Every workflow's CID, held once for the three registries that keep something of each.
  const workflows = new KeyIndex({ spillDir: init.spillDir });
  const memo = createMemo({ spillDir: init.spillDir, workflows });
  const ended = createEndedRegistry({ spillDir: init.spillDir, workflows });
  const parsedSubmissions = attached<ParsedWorkflow>('parsed submission');
  const bodies = new BodyPositions(workflows);
  const scheduler = createScheduler({
    memo,
    nodeId,
    workflowTimeoutMs: init.workflowTimeoutMs,
    awaitTimeoutMs: init.awaitTimeoutMs,
    releaseWindow: init.releaseWindow,
    parse: (event) => parsedSubmissions.get(event),
    hasEnded: (workflow) => ended.has(workflow),
    owns: init.cluster === undefined ? undefined : (workflow) => init.cluster!.owns(workflow),
  });
  const appender = createAppender(log);
  const echo = createEcho();
  const authority = init.authority;
  const authorized = new Set<string>();
  const controller = new AbortController();
  const signal = controller.signal;
  const progress = init.onProgress ?? (() => undefined);
  const fail = (error: unknown): void => progress({ type: 'node:error', error });
  const streams = {
    invocations: topology.name('invocations'),
    pure: topology.name('pure'),
    effectsPure: topology.name('effects.pure'),
    effectsManaged: topology.name('effects.managed'),
    deadLetter: topology.name('dead-letter'),
    receipts: receiptStreams(topology),
  };
  const receiptStream = (e: ReceiptEvent): string =>
    e.replayed ? streams.invocations : topology.name(receiptStreamOf(e.run.op));

  const appendTracked = async (
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
    const before = ordered.get(stream);
    let results: AppendResult[];
    const sizes: number[] = [];
    if (before === undefined && events.length <= ENCODE_CHUNK) {
      results = await appender.append(
        stream,
        events.map((e, i) => {
          const record = eventRecord(keys[i]!, e);
          sizes.push(record.value.length);
          return record;
        }),
      );
    } else {
      // A long list (a wide workflow's released tasks) is encoded and handed to the log a chunk
      // at a time, letting the event loop turn between chunks (encoding 20 000 records and
      // writing them in one call held it 150–300 ms). Appends to the stream made meanwhile
      // wait for it, so the stream keeps the order of the calls. A crash may keep only the
      // first chunks: a released task whose record is lost is released again on recovery.
      let enqueued!: () => void;
      const mine = new Promise<void>((resolve) => (enqueued = resolve));
      ordered.set(stream, mine);
      const handed: Promise<AppendResult[]>[] = [];
      try {
        await before;
        for (let from = 0; from < events.length; from += ENCODE_CHUNK) {
          if (from > 0 && sliceOver()) await nextTurn();
          const to = Math.min(from + ENCODE_CHUNK, events.length);
          const records: AppendRecord[] = [];
          for (let i = from; i < to; i++) {
            const record = eventRecord(keys[i]!, events[i]!);
            sizes.push(record.value.length);
            records.push(record);
          }
          handed.push(appender.append(stream, records));
        }
      } catch (error) {
        for (const h of handed) h.catch(() => undefined); // reported once, below
        throw error;
      } finally {
        enqueued();
        if (ordered.get(stream) === mine) ordered.delete(stream);
      }
      results = (await Promise.all(handed)).flat();
    }
    echo.remember(stream, results, events, sizes, readsOf(stream));
    let last = appendedUpTo.get(stream);
    if (last === undefined) appendedUpTo.set(stream, (last = {}));
    for (const r of results) if (!(last[r.partition]! >= r.offset)) last[r.partition] = r.offset;
  };
  /**
   * How many reads of this process recall a record of `stream` from the echo: the live follow
   * reads every stream, and the executor (when this node runs one) `invocations` too.
   */
  const readsOf = (stream: string): number =>
    stream === streams.invocations && init.execute !== false ? 2 : 1;
  /** Per stream and partition, the last offset this process appended (see caughtUp). */
  const appendedUpTo = new Map<string, Positions>();
  let appending = 0;
  const appendEvents = async (
    stream: string,
    events: NodeEvent[],
    keys: string[],
  ): Promise<void> => {
    appending++;
    try {
      await appendTracked(stream, events, keys);
    } finally {
      appending--;
    }
  };
  /**
   * True when nothing this process appended is still on its way or unread by the live follow:
   * a submission folded now sees every record before it, as when folded on its read back.
   */
  const caughtUp = (): boolean => {
    if (appending > 0) return false;
    for (const [stream, last] of appendedUpTo) {
      const at = core.followed.get(stream);
      if (at === undefined) continue;
      for (const p in last) if (!((at[p] ?? 0) > last[p]!)) return false;
    }
    return true;
  };
  /** Per stream: resolves when the last long append (see appendEvents) has been handed over. */
  const ordered = new Map<string, Promise<void>>();

  // A broker under load may drop a connection while nodes start together: retry what is
  // retryable.
  const retry = { attempts: 10, baseDelayMs: 100, ...init.retry };
  await withRetry(() => log.ensureStreams(topology.streams), retry);
  // Bad records already dead-lettered (by an earlier run): recovery reads every stream from
  // offset 0 on each start, and each bad record must reach the dead-letter stream once.
  const deadLettered = await withRetry(
    () => deadLetteredPositions(log, streams.deadLetter, signal),
    { ...retry, signal },
  );

  /** Appends of receipts folded before they were durable (see foldEarly). */
  const inFlight = createBarrier();
  const durable = (): Promise<void> => inFlight.wait();

  const pipelined = init.pipeline !== false && init.cluster === undefined;
  const readyAfterMs = init.readyRecordAfterMs ?? DEFAULT_READY_RECORD_AFTER_MS;
  const readyLater =
    pipelined && readyAfterMs > 0
      ? createReadyLater(
          readyAfterMs,
          (events) =>
            void appendEvents(
              streams.invocations,
              events,
              events.map((e) => e.instruction.toString()),
            ).catch(fail),
          (workflow) => scheduler.running(workflow),
        )
      : undefined;

  const core: Core = {
    init,
    log,
    topology,
    nodeId,
    memo,
    scheduler,
    authority,
    appender,
    echo,
    streams,
    signal,
    abort: () => controller.abort(),
    fx: undefined,
    progress,
    fail,
    parsedSubmissions,
    bodies,
    authorized,
    authorizeSubmission(parsed, proofs, atMs) {
      if (authority?.mode !== 'ucan') return;
      authority.authorize(parsed, proofs, { atMs }); // throws AuthError
      authorized.add(parsed.cid.toString());
    },
    authorizeEvent(event) {
      // `open` mode checks nothing (`Authority.authorize` and `authorizeCancel` are no-ops).
      if (authority?.mode !== 'ucan') return undefined;
      if (event.type === 'workflow/cancel') {
        // A cancel read from the stream (appended here, by another node or a producer) is
        // checked against the proofs it carries, at its own time, live and at recovery alike.
        try {
          authority.authorizeCancel(event.workflow.toString(), event.proofs, { atMs: event.at });
          return undefined;
        } catch (err) {
          return err as Error;
        }
      }
      if (event.type !== 'workflow/submitted') return undefined;
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
    },
    appendReceipt: (receipt) =>
      appendEvents(receiptStream(receipt), [receipt], [receiptKey(receipt)]),
    appendEvents,
    write: (outputs) => write(outputs),
    foldedEarly: new Map(),
    submitEarly(event) {
      const key = event.workflow.toString();
      // Records of this process not read back yet (a late retryable failure of an earlier
      // run, say) must reach the scheduler before the submission, as on the log: folded when
      // read back, then.
      if (!caughtUp() || !answeredByMemo(event))
        return appendEvents(streams.invocations, [event], [key]);
      let outputs: SchedulerOutput[];
      try {
        outputs = scheduler.apply(event);
      } catch {
        // Refused (as the live follow would): appended, then dead-lettered when read back.
        return appendEvents(streams.invocations, [event], [key]);
      }
      const folded = `${key}@${event.at}`;
      core.foldedEarly.set(folded, (core.foldedEarly.get(folded) ?? 0) + 1);
      return write(outputs, event);
    },
    schedule(record, event) {
      const refused = core.authorizeEvent(event);
      if (refused !== undefined) {
        core.deadLetter(record, refused).catch(fail);
        return;
      }
      let outputs: SchedulerOutput[];
      try {
        outputs = scheduler.apply(event);
      } catch (err) {
        core.deadLetter(record, err as Error).catch(fail);
        return;
      }
      write(outputs).catch(fail);
    },
    deadLetter(record, error) {
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
        appender.append(streams.deadLetter, [deadLetterFor(record, error)]),
        // Its producer sees why, under its own key (rejections.ts).
        record.stream === streams.invocations
          ? appender.append(streams.invocations, [rejectionRecord(record, error)])
          : undefined,
      ]);
    },
    announced: new RenewingMap(),
    ownEnds: init.cluster === undefined ? createOwnEnds() : undefined,
    followed: new Map(),
    foldEarly(receipt, append) {
      inFlight.track(announceWhenDurable(receipt, append)); // never rejects
      memo.put(receipt);
      let outputs: SchedulerOutput[];
      try {
        outputs = scheduler.apply(receipt);
      } catch {
        return; // the receipt read back is refused (dead-lettered) by the live follow
      }
      write(outputs).catch(fail);
    },
    durable,
    localTasks: undefined,
    readyLater,
    submitFollowUp: () => Promise.reject(new Error('the node is not started')),
    receipts$: new Subject<ReceiptEvent>(),
    ends$: new Subject<WorkflowEndedEvent>(),
    ended,
    workflows,
  };

  // Effects: a runner dispatching by op, and the outbox folded from effects.managed.
  if (init.effects !== undefined)
    (core as { fx: AttachedEffects }).fx = attachEffects({
      wasm: init.runner,
      effects: init.effects,
      appendIntent: (intent) =>
        appendEvents(streams.effectsManaged, [intent], [intent.instruction.toString()]),
      // In ucan mode a workflow a result asks for carries no proof and is refused: reported,
      // never allowed to stop the executor.
      submit: (workflow) =>
        core.submitFollowUp(workflow).catch((err: unknown) => {
          if ((err as Error).name !== 'AuthError') throw err;
          fail(err);
        }),
      screen: init.screenFollowUp,
      onProgress: (e) => progress(e),
    });

  /** Whether every task of a submission made here has a receipt in the memo. */
  function answeredByMemo(event: WorkflowSubmittedEvent): boolean {
    const parsed = parsedSubmissions.get(event);
    return parsed !== undefined && parsed.tasks.every((t) => memo.has(t.instruction.toString()));
  }

  /**
   * Gives a receipt this process appends to subscribers once `append` is durable, in the order
   * they were computed (the read back, across partitions and streams, does not keep it); the
   * live follow then skips it ({@link Core.announced}).
   */
  function announceWhenDurable(
    receipt: ReceiptEvent,
    durable: Promise<ReceiptEvent | void>,
  ): Promise<void> {
    const key = announcedKey(receipt);
    core.announced.set(key, 'pending');
    return new Promise<void>((done) => enqueueAnnouncement(key, receipt, durable, done));
  }

  /**
   * Gives a workflow's end this process appends to `ends$` and the ended registry once `append`
   * is durable, after every receipt announced before it (`own-ends.ts`): `IpvmNode.ended` then
   * resolves without waiting for the end's read back.
   */
  function announceEndWhenDurable(
    ownEnds: OwnEnds,
    end: WorkflowEndedEvent,
    append: Promise<void>,
  ): void {
    const workflow = end.workflow.toString();
    ownEnds.queued(workflow);
    enqueueAnnouncement(workflow, end, append, noop);
  }

  /** Queues an announcement, settled when `durable` does (with the event as appended, if any). */
  function enqueueAnnouncement(
    key: string,
    event: Announcement['event'],
    durable: Promise<ReceiptEvent | void>,
    done: () => void,
  ): void {
    const item: Announcement = { key, event, state: WAITING, done };
    announcing.push(item);
    durable.then(
      (appended) => {
        // The event as appended (signed, when the node signs).
        if (appended !== undefined) item.event = appended;
        settleAnnouncement(item, DURABLE);
      },
      () => settleAnnouncement(item, FAILED),
    );
  }

  // Announcements in the order they were made; each goes out once it and all before it are
  // settled: appends can become durable in another order (signing runs on the thread pool, a
  // long append goes in chunks, streams are synced apart).
  const announcing = new Fifo<Announcement>();
  function settleAnnouncement(item: Announcement, state: typeof DURABLE | typeof FAILED): void {
    item.state = state;
    for (let head = announcing.peek(); head !== undefined && head.state !== WAITING;) {
      announcing.take();
      if (head.event.type !== 'receipt') {
        const end = head.event;
        if (core.ownEnds!.settled(head.key, head.state === DURABLE)) {
          // Decoded until its read back replaces it with the record's bytes (live.ts).
          ended.note(end);
          ended.rerunning.delete(head.key);
          core.ends$.next(end);
        }
      } else if (head.state === DURABLE) {
        core.receipts$.next(head.event);
        // Read back already (a reader may see the bytes before the fsync returns): done.
        if (core.announced.get(head.key) === 'read') core.announced.delete(head.key);
        else core.announced.set(head.key, 'emitted');
      }
      head.done();
      head = announcing.peek();
    }
  }

  /** `lead`: a submission folded early, appended first, with the invocations of `outputs`. */
  function write(outputs: SchedulerOutput[], lead?: WorkflowSubmittedEvent): Promise<unknown> {
    if (outputs.length === 0)
      return lead === undefined
        ? Promise.resolve()
        : appendEvents(streams.invocations, [lead], [lead.workflow.toString()]);
    // Nothing is acknowledged before what it stands on is durable: a workflow's end (read back
    // by subscribers) and an effect's release (its intent leaves the node) wait for the receipts
    // folded early; a pure task/ready does not (lost in a crash, it is recomputed to the same
    // CIDs).
    if (inFlight.size > 0 && outputs.some(needsDurable)) {
      const pending = outputs;
      return durable().then(() => writeNow(pending, lead));
    }
    return writeNow(outputs, lead);
  }

  // Tasks released here, on their way to this node's executor: handed over in time slices (a
  // wide workflow releases 20 000 at once, and the executor's operators take each in turn).
  const released = new Fifo<ReadyItem>();
  let handing = false;
  async function handOver(): Promise<void> {
    if (handing) return;
    handing = true;
    try {
      while (released.length > 0) {
        if (sliceOver()) await nextTurn();
        // Once the executor stops taking local tasks (drain), the rest wait in the log.
        core.localTasks?.next(released.take()!);
      }
    } finally {
      handing = false;
    }
  }

  function writeNow(outputs: SchedulerOutput[], lead?: WorkflowSubmittedEvent): Promise<unknown> {
    const inv: Invocation[] = lead === undefined ? [] : [lead];
    const byStream = new Map<string, ReceiptEvent[]>();
    let replayed = false;
    for (const o of outputs) {
      if (o.stream === 'announce') {
        // Durable already (an earlier run wrote it): to subscribers now, before the run's end.
        core.receipts$.next(o.event);
      } else if (o.stream === 'invocations') {
        // Local fast path: run what this node released without waiting for the append to be
        // durable and read back. Correct without it: a task/ready lost in a crash is released
        // again on recovery, and the executor's consumer skips what already ran.
        // In a cluster, released tasks go through the shared consumer only (work sharing).
        if (
          o.event.type === 'task/ready' &&
          core.localTasks !== undefined &&
          init.cluster === undefined
        ) {
          released.push({ record: null, event: o.event });
          // A pure task's record only if it still runs a moment later (ready-later.ts).
          if (readyLater !== undefined && o.event.task.run.op === WASM_RUN) {
            readyLater.hold(o.event);
            continue;
          }
        }
        inv.push(o.event);
      } else if (o.event.replayed) {
        // With the run's other invocations, before its end: one file to sync (receiptKey).
        inv.push(o.event);
        replayed = true;
      } else {
        const stream = receiptStream(o.event);
        const list = byStream.get(stream);
        if (list === undefined) byStream.set(stream, [o.event]);
        else list.push(o.event);
      }
    }
    if (released.length > 0) handOver().catch(fail);
    /** Appends the lists as given; their per-stream appends, for the announcements. */
    const appendAll = (invocations: Invocation[], lists: Map<string, ReceiptEvent[]>): Written => {
      const appended = new Map<string, Promise<void>>();
      const all: Array<Promise<void>> = [];
      if (invocations.length > 0) {
        const append = appendEvents(
          streams.invocations,
          invocations,
          invocations.map(keyOfInvocation),
        );
        appended.set(streams.invocations, append);
        all.push(append);
      }
      for (const [stream, list] of lists) {
        const append = appendEvents(
          stream,
          list,
          list.map((e) => e.instruction.toString()),
        );
        appended.set(stream, append);
        all.push(append);
      }
      return { inv: invocations, appended, all: Promise.all(all) };
    };
    // Receipts are signed first, so that a workflow's end is not appended before them.
    const written: Written | Promise<Written> =
      authority === undefined || (byStream.size === 0 && !replayed)
        ? appendAll(inv, byStream)
        : Promise.all([
            Promise.all(
              inv.map((e) => (e.type === 'receipt' ? authority.sign(e) : Promise.resolve(e))),
            ),
            Promise.all(
              [...byStream].map(
                async ([stream, list]) =>
                  [stream, await Promise.all(list.map((e) => authority.sign(e)))] as const,
              ),
            ),
          ]).then(([signedInv, signed]) => appendAll(signedInv, new Map(signed)));
    // Replayed receipts written for this run: to subscribers as soon as they are durable, before
    // what the run computes next. Tracked from now on, before their signing, so that the run's
    // end waits for them as for the receipts folded early.
    let invAppended: Promise<void> | undefined;
    if (replayed) {
      const appended = (invAppended = appendedTo(written, streams.invocations));
      inv.forEach((event, index) => {
        if (event.type !== 'receipt') return;
        const asAppended = appended.then(async () => (await written).inv[index] as ReceiptEvent);
        inFlight.track(announceWhenDurable(event, asAppended));
      });
    }
    // After the replayed receipts: subscribers see a run's receipts before its end.
    const ownEnds = core.ownEnds;
    if (ownEnds !== undefined)
      for (const e of inv)
        if (e.type === 'workflow/completed' || e.type === 'workflow/failed')
          announceEndWhenDurable(
            ownEnds,
            e,
            (invAppended ??= appendedTo(written, streams.invocations)),
          );
    return written instanceof Promise ? written.then((w) => w.all) : written.all;
  }

  return core;
}

/** Resolves when what writeNow handed to `stream` is durable. */
function appendedTo(written: Written | Promise<Written>, stream: string): Promise<void> {
  return Promise.resolve(written).then((w) => w.appended.get(stream));
}

/** What goes on `invocations`: workflow and task events, and replayed receipts. */
type Invocation = WorkflowSubmittedEvent | TaskReadyEvent | WorkflowEndedEvent | ReceiptEvent;

/** What writeNow handed to the log: its invocations as appended, and its appends. */
interface Written {
  /** The invocations as appended (replayed receipts signed, when the node signs). */
  inv: Invocation[];
  /** Per stream (receipt streams, and `invocations` when it wrote to it): its append. */
  appended: Map<string, Promise<void>>;
  all: Promise<unknown>;
}

/** A receipt or an end waiting to go out (see announceWhenDurable, announceEndWhenDurable). */
interface Announcement {
  /** A receipt's {@link announcedKey}; an end's workflow. */
  key: string;
  /** The event as appended (signed, when the node signs). */
  event: ReceiptEvent | WorkflowEndedEvent;
  state: typeof WAITING | typeof DURABLE | typeof FAILED;
  done: () => void;
}
const noop = (): void => undefined;
const WAITING = 0;
const DURABLE = 1;
const FAILED = 2;

/** An output that acknowledges something: a workflow's end, or an effect task's release. */
function needsDurable(o: SchedulerOutput): boolean {
  if (o.stream !== 'invocations') return false;
  return o.event.type !== 'task/ready' || o.event.task.run.op !== WASM_RUN;
}

/** The key of a receipt in {@link Core.announced}: a receipt of one workflow. */
export function announcedKey(receipt: ReceiptEvent): string {
  return `${receipt.workflow?.toString() ?? ''}/${receipt.receipt.toString()}`;
}

function keyOfInvocation(event: Invocation): string {
  if (event.type === 'receipt') return receiptKey(event);
  return event.type === 'task/ready' ? event.instruction.toString() : event.workflow.toString();
}

/**
 * The key a receipt is appended with. A computed receipt is a new result: on `pure` (or the
 * effect stream of its op), keyed by its instruction. A replayed one records that a workflow
 * took its task's receipt from the memo, a fact of that workflow's run: on `invocations`, keyed
 * by the workflow, so that it lands in the partition of the workflow's end, before it, and a
 * memo hit's one group commit syncs one file.
 */
export function receiptKey(receipt: ReceiptEvent): string {
  return receipt.replayed && receipt.workflow !== null
    ? receipt.workflow.toString()
    : receipt.instruction.toString();
}

/** A record whose bytes outlive the read (a backend may reuse its buffers). */
export function copyOf(record: LogRecord): LogRecord {
  return { ...record, value: record.value.slice() };
}
