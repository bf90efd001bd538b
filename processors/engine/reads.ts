/**
 * Reading the {@link Log} for the RxJS processors: a stream to its end (recovery), followed
 * from positions (live), or as a named consumer (the executor).
 *
 * @module
 */
import { Observable, merge } from '../rx/index.ts';
import type { Log, LogRecord, Positions } from '../../streams/log.ts';
import { nextTurn, sliceOver } from './operators.ts';

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
          // A backlog already in memory is all microtasks: let timers and I/O run too.
          if (sliceOver()) await nextTurn();
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
