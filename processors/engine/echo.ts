/**
 * The events this process appended, remembered so that reading them back needs no decoding.
 *
 * @module
 */
import type { AppendResult, LogRecord } from '../../streams/log.ts';
import type { NodeEvent } from '../../schemas/events.ts';
import { Fifo } from './operators.ts';
import { RenewingMap } from '../renewing.ts';

/**
 * Remembers the events this process appended, by stream, partition and offset, so that reading
 * them back (the log stays the single order of events) does not decode what is already in
 * memory.
 *
 * An entry is forgotten once as many reads as it was remembered for have recalled it: the live
 * follow reads every stream once, and the executor reads `invocations` a second time. Holding
 * an event longer only holds its memory: a submission's event keeps the workflow's parse (a
 * 1 000-task workflow's is ~6 MiB of heap) for as long as the echo does. An entry no reader
 * recalls (a partition another cluster member's executor consumes) still goes, oldest first,
 * once the echo holds more than its bound of entries or of their records' bytes (a receipt can
 * carry megabytes of output); a forgotten entry is decoded from its record.
 */
export interface Echo {
  /**
   * `sizes[i]`: the byte length of `events[i]`'s record (what its decoded form holds, roughly);
   * `reads`: how many reads will recall each of them before it can be forgotten (≥ 1).
   */
  remember(
    stream: string,
    results: readonly AppendResult[],
    events: readonly NodeEvent[],
    sizes: readonly number[],
    reads?: number,
  ): void;
  /**
   * The event appended at the record's position by this process, if still remembered. Counts
   * as one of the entry's reads.
   */
  recall(record: LogRecord): NodeEvent | undefined;
  /** Entries remembered and not forgotten yet. */
  readonly size: number;
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

/** One remembered event; `reads` left to recall it (0: forgotten, `event` dropped). */
interface Entry {
  event: NodeEvent | undefined;
  map: RenewingMap<number, Entry>;
  offset: number;
  size: number;
  reads: number;
}

export function createEcho(limit = ECHO_EVENTS, limitBytes = ECHO_BYTES): Echo {
  // By stream, then partition, then offset: no key string is built per record (building
  // `stream/partition/offset` twice per record was 2% of a single-step workflow's CPU).
  const byStream = new Map<string, Array<RenewingMap<number, Entry>>>();
  // Oldest first, forgotten entries included until they reach the front. (Not a map's keys: a
  // map iterator walks over the slots of deleted entries until the map is rehashed, so
  // evicting from its front was quadratic in a long run.) Its length bounds the entries.
  const order = new Fifo<Entry>();
  let size = 0;
  let bytes = 0;
  const partitionMap = (stream: string, partition: number): RenewingMap<number, Entry> => {
    let partitions = byStream.get(stream);
    if (partitions === undefined) byStream.set(stream, (partitions = []));
    let map = partitions[partition];
    if (map === undefined) partitions[partition] = map = new RenewingMap<number, Entry>();
    return map;
  };
  const forget = (entry: Entry): void => {
    if (entry.map.get(entry.offset) === entry) entry.map.delete(entry.offset);
    entry.event = undefined;
    entry.reads = 0;
    size--;
    bytes -= entry.size;
  };
  return {
    remember(stream, results, list, sizes, reads = 1) {
      for (let i = 0; i < results.length; i++) {
        const r = results[i]!;
        const map = partitionMap(stream, r.partition);
        const before = map.get(r.offset);
        if (before !== undefined) forget(before);
        const entry: Entry = { event: list[i]!, map, offset: r.offset, size: sizes[i]!, reads };
        map.set(r.offset, entry);
        order.push(entry);
        size++;
        bytes += entry.size;
      }
      for (;;) {
        const front = order.peek();
        if (front === undefined) break;
        if (front.reads > 0 && order.length <= limit && bytes <= limitBytes) break;
        order.take();
        if (front.reads > 0) forget(front);
      }
    },
    recall(record) {
      const entry = byStream.get(record.stream)?.[record.partition]?.get(record.offset);
      if (entry === undefined) return undefined;
      const event = entry.event;
      if (--entry.reads === 0) forget(entry);
      return event;
    },
    get size() {
      return size;
    },
  };
}
