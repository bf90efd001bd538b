/**
 * Dead-lettering, independent of the backend: records that fail to decode are appended to the
 * dead-letter stream with the reason and where they came from, and reading goes on. Records are
 * never dropped: a record is only passed over once its dead letter is acknowledged.
 *
 * @example
 * ```ts
 * const receipts = decodeOrDeadLetter(log.consume('ipvm.pure', { consumer, signal }), {
 *   log,
 *   deadLetterStream: topology.name('dead-letter'),
 *   decode: (record) => decodeReceipt(record.value),
 * });
 * for await (const { record, value } of receipts) { ... }
 * ```
 *
 * @module
 */
import type { AbortOptions, AppendRecord, Log, LogRecord } from './log.ts';
import { MESSAGE_ID_HEADER } from './log.ts';

/** Headers a dead letter carries besides the source record's own headers. */
export const DEAD_LETTER_HEADERS = {
  /** Human-readable reason (the decode error's message). */
  reason: 'dead-letter-reason',
  /** Name of the error class that rejected the record. */
  error: 'dead-letter-error',
  /** Stream the record was read from. */
  stream: 'dead-letter-stream',
  /** Partition the record was read from. */
  partition: 'dead-letter-partition',
  /** Offset the record was read from. */
  offset: 'dead-letter-offset',
  /** Original append timestamp (ms since the epoch). */
  timestamp: 'dead-letter-timestamp',
} as const;

/** A decoded record: the source record with the decoded value. */
export interface Decoded<T> {
  /** The record as read. */
  record: LogRecord;
  /** What `decode` returned. */
  value: T;
}

/** What the dead-letter helper learned about one dead letter. */
export interface DeadLetterEvent {
  /** The record that failed. */
  record: LogRecord;
  /** Why it failed. */
  error: unknown;
  /** Where its dead letter was appended. */
  deadLetter: { partition: number; offset: number };
}

/** Options of {@link decodeOrDeadLetter}. */
export interface DeadLetterOptions<T> extends AbortOptions {
  /** The log to append dead letters to. */
  log: Log;
  /** Full name of the dead-letter stream (e.g. `topology.name('dead-letter')`). */
  deadLetterStream: string;
  /** Decodes (and validates) one record; throws or rejects when the record is bad. */
  decode: (record: LogRecord) => T | Promise<T>;
  /** Called after each dead letter is stored (for logs and metrics). */
  onDeadLetter?: (event: DeadLetterEvent) => void;
}

/**
 * The dead letter for `record` rejected with `error`: the original key and bytes, the original
 * headers, and {@link DEAD_LETTER_HEADERS}. Its message id is derived from the source position,
 * so re-processing the same record does not store a second dead letter where the backend
 * de-duplicates.
 */
export function deadLetterFor(record: LogRecord, error: unknown): AppendRecord {
  const reason = error instanceof Error ? error.message : String(error);
  const name = error instanceof Error ? error.name : typeof error;
  return {
    key: record.key,
    value: record.value,
    headers: {
      ...record.headers,
      [DEAD_LETTER_HEADERS.reason]: reason,
      [DEAD_LETTER_HEADERS.error]: name,
      [DEAD_LETTER_HEADERS.stream]: record.stream,
      [DEAD_LETTER_HEADERS.partition]: String(record.partition),
      [DEAD_LETTER_HEADERS.offset]: String(record.offset),
      [DEAD_LETTER_HEADERS.timestamp]: String(record.timestamp),
      [MESSAGE_ID_HEADER]: `dead-letter:${record.stream}:${record.partition}:${record.offset}`,
    },
  };
}

/** Where a dead letter came from and why, read back from its headers. */
export interface DeadLetterInfo {
  /** The reason recorded. */
  reason: string;
  /** The error name recorded. */
  error: string;
  /** Source stream. */
  stream: string;
  /** Source partition. */
  partition: number;
  /** Source offset. */
  offset: number;
}

/** Reads a dead letter's provenance; `undefined` when `record` is not a dead letter. */
export function deadLetterInfo(record: LogRecord): DeadLetterInfo | undefined {
  const h = record.headers;
  const stream = h[DEAD_LETTER_HEADERS.stream];
  const partition = h[DEAD_LETTER_HEADERS.partition];
  const offset = h[DEAD_LETTER_HEADERS.offset];
  if (stream === undefined || partition === undefined || offset === undefined) return undefined;
  return {
    reason: h[DEAD_LETTER_HEADERS.reason] ?? '',
    error: h[DEAD_LETTER_HEADERS.error] ?? '',
    stream,
    partition: Number(partition),
    offset: Number(offset),
  };
}

/**
 * Decodes every record of `records`. A record whose `decode` throws is appended to the
 * dead-letter stream (awaited: if that append fails, the iteration throws and nothing is lost)
 * and skipped; the others are yielded with their decoded value, in order.
 */
export async function* decodeOrDeadLetter<T>(
  records: AsyncIterable<LogRecord>,
  options: DeadLetterOptions<T>,
): AsyncGenerator<Decoded<T>, void, undefined> {
  const { log, deadLetterStream, decode, onDeadLetter, signal } = options;
  for await (const record of records) {
    let value: T;
    try {
      value = await decode(record);
    } catch (error) {
      const [at] = await log.append(deadLetterStream, [deadLetterFor(record, error)], { signal });
      if (at !== undefined) onDeadLetter?.({ record, error, deadLetter: at });
      continue;
    }
    yield { record, value };
  }
}
