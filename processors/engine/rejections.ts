/**
 * Rejections a producer can see: a record of `invocations` the node cannot take is dead-lettered
 * and, beside that, answered on `invocations` itself with a `workflow/rejected` event under the
 * record's own key (`ipvm watch` prints it), de-duplicated by the rejected record's position.
 *
 * @module
 */
import type { AppendRecord, LogRecord } from '../../streams/log.ts';
import { MESSAGE_ID_HEADER } from '../../streams/log.ts';
import type { WorkflowRejectedEvent } from '../../schemas/events.ts';
import { eventRecord } from './envelope.ts';

/** The rejection event of a record. */
export function rejectionOf(record: LogRecord, error: Error): WorkflowRejectedEvent {
  return {
    type: 'workflow/rejected',
    key: record.key ?? '',
    reason: error.message,
    stream: record.stream,
    partition: record.partition,
    offset: record.offset,
    at: Date.now(),
  };
}

/** The record to append for a rejected record of `invocations`. */
export function rejectionRecord(record: LogRecord, error: Error): AppendRecord {
  const r = eventRecord(record.key ?? '', rejectionOf(record, error));
  r.headers = {
    ...r.headers,
    [MESSAGE_ID_HEADER]: `rejected:${record.stream}:${record.partition}:${record.offset}`,
  };
  return r;
}
