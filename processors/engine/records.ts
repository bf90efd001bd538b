/**
 * The bridge between the {@link Log} and the RxJS processors: reading partitions as
 * observables, decoding envelopes, batching appends, and committing consumed positions.
 *
 * @module
 */
import { Observable, merge } from 'rxjs';
import type { AppendRecord, AppendResult, Log, LogRecord, Positions } from '../../streams/log.ts';
import { decodeEvent, encodeEvent, type NodeEvent } from '../../schemas/events.ts';
import { decodeInvocation } from '../../schemas/submission.ts';
import { deadLetterInfo } from '../../streams/dead-letter.ts';

/** A decoded record. */
export interface EventRecord {
  record: LogRecord;
  event: NodeEvent;
}

/** Reads one stream to its current end; returns the next position of every partition. */
export async function readToEnd(
  log: Log,
  stream: string,
  onRecord: (record: LogRecord) => void,
  signal?: AbortSignal,
): Promise<Positions> {
  const partitions = await log.partitions(stream, { signal });
  const positions: Positions = {};
  for (let p = 0; p < partitions; p++) {
    positions[p] = 0;
    for await (const record of log.read(stream, { partition: p, from: 'earliest', signal })) {
      onRecord(record);
      positions[p] = record.offset + 1;
    }
  }
  return positions;
}

/**
 * Follows every partition of a stream from the given positions until `signal` aborts. From the
 * very beginning it is one read over all partitions ('earliest': no seeks, and on Kafka one
 * consumer group instead of one per partition); otherwise one read per partition.
 */
export function follow(
  log: Log,
  stream: string,
  positions: Positions,
  signal: AbortSignal,
): Observable<LogRecord> {
  const partitions = Object.keys(positions).map(Number);
  if (partitions.every((p) => positions[p] === 0)) {
    return fromAsyncIterable(log.read(stream, { from: 'earliest', follow: true, signal }));
  }
  return merge(
    ...partitions.map((partition) =>
      fromAsyncIterable(
        log.read(stream, {
          partition,
          from: positions[partition] === 0 ? 'earliest' : positions[partition]!,
          follow: true,
          signal,
        }),
      ),
    ),
  );
}

/** Consumes as a named consumer until `signal` aborts. */
export function consume(
  log: Log,
  stream: string,
  consumer: string,
  signal: AbortSignal,
): Observable<LogRecord> {
  return fromAsyncIterable(log.consume(stream, { consumer, signal }));
}

function fromAsyncIterable<T>(iterable: AsyncIterable<T>): Observable<T> {
  return new Observable<T>((subscriber) => {
    let stopped = false;
    const iterator = iterable[Symbol.asyncIterator]();
    (async () => {
      try {
        while (!stopped) {
          const next = await iterator.next();
          if (next.done === true) break;
          subscriber.next(next.value);
        }
        subscriber.complete();
      } catch (err) {
        subscriber.error(err);
      }
    })().catch(() => undefined);
    return () => {
      stopped = true;
      void iterator.return?.()?.catch(() => undefined);
    };
  });
}

/**
 * Remembers the events this process appended, by stream, partition and offset, so that reading
 * them back (the log stays the single order of events) does not decode what is already in
 * memory. Bounded: the oldest entries go first.
 */
export interface Echo {
  remember(stream: string, results: readonly AppendResult[], events: readonly NodeEvent[]): void;
  /** The event appended at the record's position by this process, if still remembered. */
  recall(record: LogRecord): NodeEvent | undefined;
}

export function createEcho(limit = 65_536): Echo {
  const events = new Map<string, NodeEvent>();
  return {
    remember(stream, results, list) {
      results.forEach((r, i) => {
        events.set(`${stream}/${r.partition}/${r.offset}`, list[i]!);
      });
      if (events.size > limit) {
        let excess = events.size - limit;
        for (const key of events.keys()) {
          if (excess-- <= 0) break;
          events.delete(key);
        }
      }
    },
    recall: (record) => events.get(`${record.stream}/${record.partition}/${record.offset}`),
  };
}

/** Decodes a record, or returns the error (the caller dead-letters it). */
export function decodeRecord(record: LogRecord): EventRecord | Error {
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
} as const;

/** What the routing headers say about a record. */
export interface Routing {
  type: NodeEvent['type'];
  workflow: string;
  instruction: string;
  receipt: string;
  outcome: string;
}

/** The routing headers of a record, or undefined when it has none. */
export function routingOf(record: LogRecord): Routing | undefined {
  const h = record.headers;
  const type = h[ROUTING.type];
  if (type === undefined) return undefined;
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
  return { key, value: encodeEvent(event), headers: routingHeaders(event) };
}

/**
 * Group commit in front of `log.append`: records handed in while an append is in flight go out
 * together in the next one, per stream. Each caller's promise resolves with its own results.
 */
export interface Appender {
  append(stream: string, records: AppendRecord[]): Promise<AppendResult[]>;
  /** Resolves when everything handed in so far is appended. */
  drain(): Promise<void>;
}

export function createAppender(log: Log): Appender {
  interface Pending {
    records: AppendRecord[];
    callers: Array<{
      from: number;
      count: number;
      resolve: (r: AppendResult[]) => void;
      reject: (e: unknown) => void;
    }>;
  }
  const pending = new Map<string, Pending>();
  const busy = new Map<string, Promise<void>>();

  function flush(stream: string): Promise<void> {
    const running = busy.get(stream);
    if (running !== undefined) return running;
    const batch = pending.get(stream);
    if (batch === undefined) return Promise.resolve();
    pending.delete(stream);
    const done = log
      .append(stream, batch.records)
      .then(
        (results) => {
          for (const c of batch.callers) c.resolve(results.slice(c.from, c.from + c.count));
        },
        (err: unknown) => {
          for (const c of batch.callers) c.reject(err);
        },
      )
      .finally(() => {
        busy.delete(stream);
        if (pending.has(stream)) void flush(stream);
      });
    busy.set(stream, done);
    return done;
  }

  return {
    append(stream, records) {
      if (records.length === 0) return Promise.resolve([]);
      return new Promise<AppendResult[]>((resolve, reject) => {
        let batch = pending.get(stream);
        if (batch === undefined) pending.set(stream, (batch = { records: [], callers: [] }));
        batch.callers.push({ from: batch.records.length, count: records.length, resolve, reject });
        batch.records.push(...records);
        if (!busy.has(stream)) void flush(stream);
      });
    },
    async drain() {
      while (busy.size > 0 || pending.size > 0) {
        await Promise.allSettled([...busy.values()]);
        for (const stream of pending.keys()) if (!busy.has(stream)) void flush(stream);
      }
    },
  };
}

/**
 * Tracks records a consumer is processing concurrently, so that only positions below every
 * unfinished record are committed (at-least-once, never skipping a record).
 */
export interface CommitTracker {
  /** A record was taken for processing. */
  begin(record: LogRecord): void;
  /** A record is done. */
  end(record: LogRecord): void;
  /** Positions that may be committed now and were not returned before, or null. */
  take(): Positions | null;
}

export function createCommitTracker(): CommitTracker {
  const open = new Map<number, Set<number>>();
  const highest = new Map<number, number>();
  const committed = new Map<number, number>();
  return {
    begin(record) {
      let set = open.get(record.partition);
      if (set === undefined) open.set(record.partition, (set = new Set()));
      set.add(record.offset);
    },
    end(record) {
      open.get(record.partition)?.delete(record.offset);
      const h = highest.get(record.partition) ?? -1;
      if (record.offset > h) highest.set(record.partition, record.offset);
    },
    take() {
      let out: Positions | null = null;
      for (const [partition, h] of highest) {
        const set = open.get(partition);
        let position = h + 1;
        if (set !== undefined) for (const o of set) if (o < position) position = o;
        if (position > (committed.get(partition) ?? 0)) {
          committed.set(partition, position);
          (out ??= {})[partition] = position;
        }
      }
      return out;
    },
  };
}

/** `stream/partition/offset`: where a record was read. */
export function positionKey(record: { stream: string; partition: number; offset: number }): string {
  return `${record.stream}/${record.partition}/${record.offset}`;
}

/**
 * Positions of the records already dead-lettered, read from the dead-letter stream's
 * provenance headers. Recovery reads every stream from offset 0 on each start: this is how it
 * knows which bad records were dead-lettered by an earlier run, so each goes there once.
 */
export async function deadLetteredPositions(
  log: Log,
  deadLetterStream: string,
  signal?: AbortSignal,
): Promise<Set<string>> {
  const seen = new Set<string>();
  await readToEnd(
    log,
    deadLetterStream,
    (record) => {
      const info = deadLetterInfo(record);
      if (info !== undefined) seen.add(positionKey(info));
    },
    signal,
  );
  return seen;
}
