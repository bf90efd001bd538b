/**
 * Start-up is recovery: the receipt streams are folded into the memo, `invocations` into the
 * scheduler (its replayed receipts into the memo), and everything due but never written is
 * written. The same path rebuilds a node from offset 0 after a crash, so "replay mode" is not a
 * special mode.
 *
 * Receipts go into the memo by their routing headers and are decoded only when needed.
 * Invocations are read once for their headers: only workflows that have not ended are decoded
 * and handed to the scheduler. Bad records are dead-lettered as on the live path.
 *
 * @module
 */
import type { LogRecord, Positions } from '../../streams/log.ts';
import {
  decodeEvent,
  type NodeEvent,
  type WorkflowEndedEvent,
  type WorkflowSubmittedEvent,
} from '../../schemas/events.ts';
import { withRetry } from '../retry.ts';
import { readToEnd } from './reads.ts';
import { decodeRecord, ROUTING, routingOf, type Routing } from './envelope.ts';
import { withBody } from './submission-body.ts';
import { copyOf, type Core } from './core.ts';

/** Where the live follow starts: the next position of every partition of each stream. */
export interface Recovered {
  /** One per `core.streams.receipts`, in that order. */
  receipts: Positions[];
  invocations: Positions;
}

/** Folds everything written so far and writes what is due; see the module doc. */
export async function recover(core: Core): Promise<Recovered> {
  const { log, memo, scheduler, authority, fx, streams, signal } = core;
  const started = performance.now();
  let seenReceipts = 0;
  let seenInvocations = 0;
  // A broker that just created the streams may not serve them yet: retry what is retryable
  // (a retried read starts over, so the folds below are idempotent).
  const retry = { attempts: 10, baseDelayMs: 100, ...core.init.retry, signal };
  const deadLetters: Array<Promise<unknown>> = [];
  const deadLetter = (record: LogRecord, error: Error): void =>
    void deadLetters.push(core.deadLetter(record, error));

  const foldReceipt = (stream: string, record: LogRecord): void => {
    if (authority?.mode === 'ucan') {
      // Every receipt is decoded and its signature checked before the memo sees it.
      const d = decodeRecord(record);
      const refused =
        d instanceof Error
          ? d
          : d.event.type === 'receipt'
            ? authority.verifyForeign(d.event)
            : undefined;
      if (refused !== undefined) return deadLetter(copyOf(record), refused);
      if (d instanceof Error || d.event.type !== 'receipt') return;
      seenReceipts++;
      memo.put(d.event);
      return;
    }
    const r = routingOf(record);
    if (fx !== undefined && stream === streams.effectsManaged) {
      // The outbox needs intents and the outcomes that settle them.
      const d = decodeRecord(record);
      if (!(d instanceof Error)) fx.outbox.observe(d.event);
    }
    if (r !== undefined) {
      if (r.type !== 'receipt') return;
      seenReceipts++;
      memo.putLazy(r, record.value);
      return;
    }
    const d = decodeRecord(record);
    if (d instanceof Error) return deadLetter(copyOf(record), d);
    if (d.event.type !== 'receipt') return;
    seenReceipts++;
    memo.put(d.event);
  };
  const receipts: Positions[] = [];
  for (const stream of streams.receipts) {
    receipts.push(
      await withRetry(
        () => readToEnd(log, stream, (record) => foldReceipt(stream, record), signal),
        retry,
      ),
    );
  }

  /**
   * The latest submission of each workflow not ended: its record, decoded when known. The
   * record is copied only once the fold is over (most submissions end before it is): until then
   * it is a view of the chunk the log read, which stays alive with it.
   */
  const submissions = new Map<string, { record: LogRecord; event?: NodeEvent }>();
  /** Task releases of each workflow's latest submission (a new submission starts afresh). */
  const releases = new Map<string, string[]>();
  /** Cancel requests of each workflow's latest submission, folded after it, in order. */
  const cancels = new Map<string, LogRecord[]>();
  const foldInvocation = (record: LogRecord): void => {
    let r = routingOf(record);
    let event: NodeEvent | undefined;
    if (r === undefined) {
      const d = decodeRecord(record);
      if (d instanceof Error) return deadLetter(copyOf(record), d);
      event = d.event;
      r = routingOfEvent(event);
    }
    // A workflow's replayed receipt: into the memo as on the receipt streams.
    if (r.type === 'receipt') return foldReceipt(streams.invocations, record);
    seenInvocations++;
    switch (r.type) {
      case 'workflow/submitted':
        // Where its body is, for a later re-run to reference (not a submission that references).
        if (
          event === undefined
            ? record.headers[ROUTING.source] === undefined
            : (event as WorkflowSubmittedEvent).body !== null
        )
          core.bodies.set(r.workflow, record.partition, record.offset);
        submissions.set(r.workflow, { record, event });
        core.ended.delete(r.workflow);
        releases.delete(r.workflow);
        cancels.delete(r.workflow);
        break;
      case 'workflow/cancel':
        // Every one is kept: in ucan mode one without a covering proof is refused, and a later
        // one may carry it (the scheduler folds the first accepted).
        if (submissions.has(r.workflow)) {
          const list = cancels.get(r.workflow);
          if (list === undefined) cancels.set(r.workflow, [copyOf(record)]);
          else list.push(copyOf(record));
        }
        break;
      case 'workflow/completed':
      case 'workflow/failed':
        submissions.delete(r.workflow);
        core.ended.set(r.workflow, (event as WorkflowEndedEvent | undefined) ?? record.value);
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
  };
  const invocations = await withRetry(() => {
    submissions.clear();
    releases.clear();
    cancels.clear();
    return readToEnd(log, streams.invocations, foldInvocation, signal);
  }, retry);
  for (const submission of submissions.values()) {
    const record = copyOf(submission.record);
    const { event } = submission;
    try {
      let e = event ?? decodeEvent(record.value);
      if (e.type === 'workflow/submitted' && e.body === null) {
        // A re-run: its body is in an earlier record.
        const full = await withBody(log, streams.invocations, e, { signal });
        core.parsedSubmissions.set(full.event, full.parsed);
        e = full.event;
      }
      // In ucan mode a submission without a covering proof is refused here as when live.
      const refused = core.authorizeEvent(e);
      if (refused !== undefined) throw refused;
      scheduler.apply(e);
    } catch (err) {
      // Undecodable, or refused by the scheduler (e.g. an instruction twice): as when live.
      deadLetter(record, err as Error);
    }
  }
  for (const [workflow, records] of cancels) {
    if (!submissions.has(workflow)) continue;
    for (const record of records) {
      try {
        const e = decodeEvent(record.value);
        const refused = core.authorizeEvent(e);
        if (refused !== undefined) throw refused;
        scheduler.apply(e);
      } catch (err) {
        deadLetter(record, err as Error);
      }
    }
  }
  await Promise.all(deadLetters);
  // A release whose task got only a retryable failure is void: the task is released again.
  for (const [workflow, list] of releases) {
    if (!submissions.has(workflow)) continue;
    for (const instruction of list)
      if (!memo.attempted(instruction, workflow)) scheduler.released(workflow, instruction);
  }
  const due = scheduler.flush();
  await core.write(due);
  core.progress({
    type: 'node:recovered',
    receipts: seenReceipts,
    invocations: seenInvocations,
    emitted: due.length,
    ms: performance.now() - started,
  });
  return { receipts, invocations };
}

/** What routing headers would say of a decoded event (a record a producer wrote without). */
function routingOfEvent(event: NodeEvent): Routing {
  return {
    type: event.type,
    workflow: 'workflow' in event && event.workflow !== null ? event.workflow.toString() : '',
    instruction: event.type === 'task/ready' ? event.instruction.toString() : '',
    receipt: '',
    outcome: '',
  };
}
