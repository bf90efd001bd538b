// A minimal in-memory implementation of the Log contract, for unit tests of the table indexer
// (the real backends have their own conformance suite). Offsets are dense from 0.
/* eslint-disable @typescript-eslint/require-await -- an in-memory log answers at once; the contract is async */
import type {
  AppendRecord,
  AppendResult,
  ConsumeOptions,
  Log,
  LogRecord,
  Positions,
  ReadOptions,
  StreamSpec,
} from '../../streams/log.ts';
import { partitionForKey } from '../../streams/log.ts';

export interface MemoryLog extends Log {
  /** End offsets (next offset per partition). */
  /** Makes the next `n` commits reject with a retryable error. */
  failCommits(n: number): void;
}

export function createMemoryLog(): MemoryLog {
  const streams = new Map<string, LogRecord[][]>();
  const commits = new Map<string, Positions>();
  const waiters = new Set<() => void>();
  let failing = 0;
  let closed = false;
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  const parts = (stream: string): LogRecord[][] => {
    const p = streams.get(stream);
    if (!p) throw new Error(`no stream ${stream}`);
    return p;
  };
  async function* readFrom(
    stream: string,
    starts: Positions,
    follow: boolean,
    signal?: AbortSignal,
  ): AsyncGenerator<LogRecord> {
    const ps = parts(stream);
    const next = ps.map((_, i) => starts[i] ?? 0);
    for (;;) {
      let any = false;
      // Partitions interleave in slices, as a broker's fetches do.
      for (let p = 0; p < ps.length; p++) {
        const records = ps[p]!;
        for (let k = 0; k < 256 && next[p]! < records.length; k++) {
          if (signal?.aborted || closed) return;
          any = true;
          yield records[next[p]!]!;
          next[p]!++;
        }
      }
      if (any) continue;
      if (!follow || signal?.aborted || closed) return;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          waiters.delete(done);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        waiters.add(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }
  const log: MemoryLog = {
    async ensureStreams(specs: readonly StreamSpec[]) {
      for (const s of specs) {
        if (!streams.has(s.name))
          streams.set(
            s.name,
            Array.from({ length: s.partitions }, () => []),
          );
      }
    },
    async partitions(stream) {
      return parts(stream).length;
    },
    async append(stream, records: readonly AppendRecord[]): Promise<AppendResult[]> {
      const ps = parts(stream);
      const out = records.map((r) => {
        const partition = partitionForKey(r.key, ps.length);
        const list = ps[partition]!;
        const offset = list.length;
        list.push({
          stream,
          partition,
          offset,
          key: r.key,
          value: r.value,
          headers: r.headers ?? {},
          timestamp: Date.now(),
        });
        return { partition, offset };
      });
      wake();
      return out;
    },
    read(stream, options: ReadOptions = {}) {
      const ps = parts(stream);
      const starts: Positions = {};
      ps.forEach((records, i) => {
        if (options.partition !== undefined && options.partition !== i) {
          starts[i] = Number.MAX_SAFE_INTEGER;
          return;
        }
        const from = options.from ?? 'earliest';
        starts[i] = from === 'earliest' ? 0 : from === 'latest' ? records.length : from;
      });
      return readFrom(stream, starts, options.follow ?? false, options.signal);
    },
    consume(stream, options: ConsumeOptions) {
      const committed = commits.get(`${options.consumer}/${stream}`) ?? {};
      const ps = parts(stream);
      const starts: Positions = {};
      ps.forEach((records, i) => {
        starts[i] = committed[i] ?? (options.from === 'latest' ? records.length : 0);
      });
      return readFrom(stream, starts, true, options.signal);
    },
    async commit(consumer, stream, positions) {
      if (failing > 0) {
        failing--;
        throw Object.assign(new Error('commit unavailable'), { retryable: true });
      }
      const key = `${consumer}/${stream}`;
      commits.set(key, { ...commits.get(key), ...positions });
    },
    async committed(consumer, stream) {
      return { ...commits.get(`${consumer}/${stream}`) };
    },
    async ends(stream) {
      const out: Positions = {};
      parts(stream).forEach((r, i) => (out[i] = r.length));
      return out;
    },
    failCommits(n) {
      failing = n;
    },
    async close() {
      closed = true;
      wake();
    },
    async [Symbol.asyncDispose]() {
      await log.close();
    },
  };
  return log;
}
