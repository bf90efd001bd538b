/**
 * Group commit in front of `log.append`.
 *
 * @module
 */
import type { AppendRecord, AppendResult, Log } from '../../streams/log.ts';

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
        for (const r of records) batch.records.push(r); // (a spread overflows the stack at ~120 000)
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
