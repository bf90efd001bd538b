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
 * memory. Bounded in entries and in the bytes of their records (a receipt can carry megabytes
 * of output): the oldest entries go first, and a forgotten one is decoded from its record.
 */
export interface Echo {
  /** `sizes[i]`: the byte length of `events[i]`'s record (what its decoded form holds, roughly). */
  remember(
    stream: string,
    results: readonly AppendResult[],
    events: readonly NodeEvent[],
    sizes: readonly number[],
  ): void;
  /** The event appended at the record's position by this process, if still remembered. */
  recall(record: LogRecord): NodeEvent | undefined;
}

/** Records' bytes an echo keeps at most by default (a receipt's record is ~300 B). */
export const ECHO_BYTES = 8 << 20;

/**
 * Events an echo keeps at most by default. A decoded event takes ~1.4 KB of heap (~5× its
 * record), and the live follow reads a record back within milliseconds of its append: 2 048
 * events cover ~100 ms of appends at 20 000 records/s. (8 192 held ~11 MiB more heap, which
 * old-space collections had to walk, for no measured gain in steps/s or in wide workflows.)
 */
export const ECHO_EVENTS = 2_048;

export function createEcho(limit = ECHO_EVENTS, limitBytes = ECHO_BYTES): Echo {
  // By stream, then partition, then offset: no key string is built per record (building
  // `stream/partition/offset` twice per record was 2% of a single-step workflow's CPU).
  const byStream = new Map<string, Array<Map<number, NodeEvent>>>();
  let size = 0;
  // Oldest first. (Not a map's keys: a map iterator walks over the slots of deleted entries
  // until the map is rehashed, so evicting from its front was quadratic in a long run.)
  const order = new Fifo<Map<number, NodeEvent>>();
  const offsetOf = new Fifo<number>();
  const sizeOf = new Fifo<number>();
  let bytes = 0;
  const partitionMap = (stream: string, partition: number): Map<number, NodeEvent> => {
    let partitions = byStream.get(stream);
    if (partitions === undefined) byStream.set(stream, (partitions = []));
    let map = partitions[partition];
    if (map === undefined) partitions[partition] = map = new Map<number, NodeEvent>();
    return map;
  };
  return {
    remember(stream, results, list, sizes) {
      for (let i = 0; i < results.length; i++) {
        const r = results[i]!;
        const map = partitionMap(stream, r.partition);
        if (!map.has(r.offset)) size++;
        map.set(r.offset, list[i]!);
        order.push(map);
        offsetOf.push(r.offset);
        sizeOf.push(sizes[i]!);
        bytes += sizes[i]!;
      }
      while ((size > limit || bytes > limitBytes) && order.length > 0) {
        if (order.take()!.delete(offsetOf.take()!)) size--;
        bytes -= sizeOf.take()!;
      }
    },
    recall: (record) => byStream.get(record.stream)?.[record.partition]?.get(record.offset),
  };
}
