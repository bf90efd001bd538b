/**
 * The events this process appended, remembered so that reading them back needs no decoding.
 *
 * @module
 */
import type { AppendResult, LogRecord } from '../../streams/log.ts';
import type { NodeEvent } from '../../schemas/events.ts';
import { Fifo } from './operators.ts';

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

export function createEcho(limit = 8_192): Echo {
  const events = new Map<string, NodeEvent>();
  // Oldest first. (Not `events.keys()`: a map iterator walks over the slots of deleted entries
  // until the map is rehashed, so evicting from its front was quadratic in a long run.)
  const order = new Fifo<string>();
  return {
    remember(stream, results, list) {
      results.forEach((r, i) => {
        const key = `${stream}/${r.partition}/${r.offset}`;
        events.set(key, list[i]!);
        order.push(key);
      });
      while (events.size > limit && order.length > 0) events.delete(order.take()!);
    },
    recall: (record) => events.get(`${record.stream}/${record.partition}/${record.offset}`),
  };
}
