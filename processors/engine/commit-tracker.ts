/**
 * Which consumed positions may be committed while records are processed concurrently.
 *
 * @module
 */
import type { LogRecord, Positions } from '../../streams/log.ts';
import { RenewingSet } from '../renewing.ts';

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
  const open = new Map<number, RenewingSet<number>>();
  const highest = new Map<number, number>();
  const committed = new Map<number, number>();
  return {
    begin(record) {
      let set = open.get(record.partition);
      if (set === undefined) open.set(record.partition, (set = new RenewingSet()));
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
