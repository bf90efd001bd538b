/**
 * The events this process appended, remembered so that reading them back needs no decoding.
 *
 * @module
 */
import type { AppendResult, LogRecord } from '../../streams/log.ts';
import type { NodeEvent } from '../../schemas/events.ts';

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
