/**
 * The live follow: after recovery, the receipt streams feed the memo, the scheduler and the
 * receipt subscribers; `invocations` feeds the scheduler and the end notifications, and its
 * replayed receipts go the way of the others. Records this process appended are recalled from
 * the echo instead of decoded; a record that does not decode (or, with an authority, a receipt
 * whose signature does not verify) is dead-lettered.
 *
 * @module
 */
import type { Subscription } from '../rx/index.ts';
import { flatMapSync } from './operators.ts';
import type { LogRecord } from '../../streams/log.ts';
import { follow } from './reads.ts';
import { decodeRecord, type EventRecord } from './envelope.ts';
import { announcedKey, copyOf, type Core } from './core.ts';
import type { Recovered } from './recovery.ts';
import { withBody } from './submission-body.ts';
import type { ReceiptEvent, WorkflowSubmittedEvent } from '../../schemas/events.ts';

/** Follows the streams from where recovery stopped; unsubscribe to stop. */
export function followStreams(core: Core, from: Recovered): Subscription[] {
  const { log, memo, authority, fx, streams, signal, fail } = core;
  // Where the follow is, for `behind()`: from recovery's end, then each record read.
  streams.receipts.forEach((s, i) => core.followed.set(s, { ...from.receipts[i]! }));
  core.followed.set(streams.invocations, { ...from.invocations });
  const read = (record: LogRecord): void => {
    const at = core.followed.get(record.stream);
    if (at !== undefined) at[record.partition] = record.offset + 1;
  };
  /**
   * A record read back: recalled from the echo, or decoded, a receipt written elsewhere verified
   * first; one that does not decode, or is refused, is dead-lettered.
   */
  const decodeOrDeadLetter = (record: LogRecord): EventRecord[] => {
    read(record);
    const known = core.echo.recall(record);
    if (known !== undefined) return [{ record, event: known }];
    const d = decodeRecord(record);
    if (d instanceof Error) return deadLettered(record, d);
    const refused =
      authority !== undefined && d.event.type === 'receipt'
        ? authority.verifyForeign(d.event)
        : undefined;
    return refused === undefined ? [d] : deadLettered(record, refused);
  };
  const deadLettered = (record: LogRecord, error: Error): EventRecord[] => {
    core.deadLetter(record, error).catch(fail);
    return [];
  };

  /** A receipt read back: to the memo, the scheduler, and subscribers unless announced. */
  const onReceipt = (record: LogRecord, event: ReceiptEvent): void => {
    memo.put(event);
    core.schedule(record, event);
    const key = announcedKey(event);
    const early = core.announced.get(key);
    if (early === undefined) core.receipts$.next(event);
    else if (early === 'pending') core.announced.set(key, 'read');
    else core.announced.delete(key);
  };
  const subscriptions = streams.receipts.map((stream, i) =>
    follow(log, stream, from.receipts[i]!, signal)
      .pipe(flatMapSync(decodeOrDeadLetter))
      .subscribe({
        next: ({ record, event }) => {
          fx?.outbox.observe(event);
          if (event.type === 'receipt') onReceipt(record, event);
        },
        error: fail,
      }),
  );
  /** A submission made here and folded before it was appended (`Core.submitEarly`). */
  const foldedAlready = (event: WorkflowSubmittedEvent): boolean => {
    const key = `${event.workflow.toString()}@${event.at}`;
    const n = core.foldedEarly.get(key);
    if (n === undefined) return false;
    if (n === 1) core.foldedEarly.delete(key);
    else core.foldedEarly.set(key, n - 1);
    return true;
  };
  const resolveBody = (record: LogRecord, event: WorkflowSubmittedEvent): void => {
    const kept = copyOf(record);
    withBody(log, streams.invocations, event, { signal }).then(
      (full) => {
        core.parsedSubmissions.set(full.event, full.parsed);
        core.schedule(kept, full.event);
        core.ended.note(full.event);
      },
      (err: unknown) => {
        if (!signal.aborted) core.deadLetter(kept, err as Error).catch(fail);
      },
    );
  };
  subscriptions.push(
    follow(log, streams.invocations, from.invocations, signal)
      .pipe(flatMapSync(decodeOrDeadLetter))
      .subscribe({
        next: ({ record, event }) => {
          // A workflow's replayed receipt (core.ts, receiptKey).
          if (event.type === 'receipt') return onReceipt(record, event);
          // Folded already when it was submitted here (Core.submitEarly): noted, not folded again.
          let folded = false;
          if (event.type === 'workflow/submitted') {
            folded = foldedAlready(event);
            if (!folded && event.body === null && !core.parsedSubmissions.has(event)) {
              // A re-run written elsewhere: its body is in an earlier record (rare: this node
              // writes such references only outside a cluster).
              resolveBody(record, event);
              return;
            }
            if (event.body !== null)
              core.bodies.set(event.workflow.toString(), record.partition, record.offset);
          }
          if (!folded) core.schedule(record, event);
          if (event.type === 'workflow/completed' || event.type === 'workflow/failed') {
            const workflow = event.workflow.toString();
            const seen = core.ownEnds?.read(workflow) ?? 'new';
            // Given out already (own-ends.ts): from now on kept as its record's bytes, unless a
            // later end of the workflow was given out since.
            if (seen !== 'older') core.ended.note(event, record.value);
            if (seen !== 'new') return;
            core.ended.rerunning.delete(workflow);
            core.ends$.next(event);
          } else if (
            event.type !== 'workflow/submitted' ||
            core.ownEnds?.ahead(event.workflow.toString()) !== true
          ) {
            // (A submission read back before an end of its workflow given out already is older.)
            core.ended.note(event, record.value);
          }
        },
        error: fail,
      }),
  );
  return subscriptions;
}
