/**
 * A node event as a log record: the encoded envelope, its key, and the routing headers that
 * let folds index records without decoding them.
 *
 * @module
 */
import type { AppendRecord, LogRecord } from '../../streams/log.ts';
import { BLOCKS_ERROR_HEADER } from '../blocks/blocks-log.ts';
import { SchemaError } from '../../schemas/errors.ts';
import {
  BLOCKS_FIELD,
  decodeEvent,
  encodeEventRecord,
  type NodeEvent,
} from '../../schemas/events.ts';
import { decodeInvocation } from '../../schemas/submission.ts';

/** A decoded record. */
export interface EventRecord {
  record: LogRecord;
  event: NodeEvent;
}

/** Decodes a record, or returns the error (the caller dead-letters it). */
export function decodeRecord(record: LogRecord): EventRecord | Error {
  // A record whose large values could not be read back from their blocks (processors/blocks).
  const unread = record.headers[BLOCKS_ERROR_HEADER];
  if (unread !== undefined) return new SchemaError(BLOCKS_FIELD, unread);
  try {
    // `invocations` also takes plain workflow documents from producers (schemas/submission.ts).
    const event = record.stream.endsWith('invocations')
      ? decodeInvocation(record.value, record.timestamp)
      : decodeEvent(record.value);
    return { record, event };
  } catch (err) {
    return err as Error;
  }
}

/**
 * Routing headers the node writes beside every event it appends, so that folds (recovery,
 * replay) can index records without decoding them. Records without them (from other
 * producers) are decoded.
 */
export const ROUTING = {
  type: 'ipvm-type',
  workflow: 'ipvm-workflow',
  instruction: 'ipvm-instruction',
  receipt: 'ipvm-receipt',
  /** `ok`, `error`, or `transient` (a retryable failure, never memoized). */
  outcome: 'ipvm-outcome',
  /** On a submission that references its body (`submission-body.ts`): `partition@offset`. */
  source: 'ipvm-source',
} as const;

/** What the routing headers say about a record. */
export interface Routing {
  type: NodeEvent['type'];
  workflow: string;
  instruction: string;
  receipt: string;
  outcome: string;
}

/** The routing headers of a record, or undefined when it has none (or is not readable). */
export function routingOf(record: LogRecord): Routing | undefined {
  const h = record.headers;
  const type = h[ROUTING.type];
  // A record whose blocks could not be read is decoded (decodeRecord), to be dead-lettered.
  if (type === undefined || h[BLOCKS_ERROR_HEADER] !== undefined) return undefined;
  return {
    type: type as Routing['type'],
    workflow: h[ROUTING.workflow] ?? '',
    instruction: h[ROUTING.instruction] ?? '',
    receipt: h[ROUTING.receipt] ?? '',
    outcome: h[ROUTING.outcome] ?? '',
  };
}

function routingHeaders(event: NodeEvent): Record<string, string> {
  const headers: Record<string, string> = { [ROUTING.type]: event.type };
  if ('workflow' in event && event.workflow !== null)
    headers[ROUTING.workflow] = event.workflow.toString();
  if (event.type === 'task/ready' || event.type === 'receipt' || event.type === 'effect/intent') {
    headers[ROUTING.instruction] = event.instruction.toString();
  }
  if (event.type === 'workflow/submitted' && event.source !== undefined)
    headers[ROUTING.source] = `${event.source.partition}@${event.source.offset}`;
  if (event.type === 'receipt') {
    headers[ROUTING.receipt] = event.receipt.toString();
    const out = event.body.out;
    const transient =
      out[0] === 'error' && (out[1] as { retryable?: unknown } | null)?.retryable === true;
    headers[ROUTING.outcome] = transient ? 'transient' : out[0];
  }
  return headers;
}

/** An event to append, with its key and routing headers. */
export function eventRecord(key: string, event: NodeEvent): AppendRecord {
  return { key, value: encodeEventRecord(event), headers: routingHeaders(event) };
}
