/**
 * The `Log` contract: an append-only, partitioned, keyed log of byte records.
 *
 * Everything the node does is an event appended to a {@link Log}; every piece of state is a fold
 * over those events. Three backends implement this one contract and pass one conformance suite:
 * the embedded segmented file log (`streams/file/`, the default), Apache Kafka
 * (`streams/kafka/`) and NATS JetStream (`streams/jetstream/`).
 *
 * Vocabulary:
 * - a **stream** is a named log (a Kafka topic, a JetStream stream, a directory of the file log),
 *   split into a fixed number of **partitions**;
 * - a record's **key** picks its partition by a stable hash ({@link partitionForKey}), so all
 *   records of one key land in one partition, in append order;
 * - an **offset** identifies a record inside its partition. Offsets are safe integers, strictly
 *   increasing inside a partition. The file log and Kafka give dense offsets starting at 0;
 *   JetStream gives the stream sequence minus one (unique across the stream, increasing inside a
 *   partition, but with gaps where other partitions' records sit);
 * - a **position** is the offset of the *next* record to read; committed positions are positions.
 *
 * @example
 * ```ts
 * await using log = createFileLog({ dir: '.data/log' });
 * await log.ensureStreams([{ name: 'ipvm.pure', partitions: 4 }]);
 * const [at] = await log.append('ipvm.pure', [{ key: cid, value: bytes }]);
 * for await (const record of log.read('ipvm.pure', { partition: at.partition, from: at.offset })) {
 *   // ...
 * }
 * ```
 *
 * @module
 */

/** A record to append. */
export interface AppendRecord {
  /**
   * Partitioning key (for IPVM: a workflow or instruction CID). Records with the same key go to
   * the same partition and are read back in append order.
   */
  key: string;
  /** The payload; the log never looks inside. */
  value: Uint8Array;
  /**
   * Optional string headers, stored and returned as given. {@link MESSAGE_ID_HEADER} has a
   * meaning for backends that de-duplicate.
   */
  headers?: Record<string, string>;
}

/** A record read back from a {@link Log}. */
export interface LogRecord {
  /** The stream the record was read from. */
  stream: string;
  /** Partition of the record inside its stream. */
  partition: number;
  /** Offset of the record inside its partition (see the module notes per backend). */
  offset: number;
  /** The key given at append. */
  key: string;
  /** The payload given at append. Treat it as read-only; it may share memory with other records. */
  value: Uint8Array;
  /** The headers given at append (an empty object when there were none). */
  headers: Record<string, string>;
  /** Append time in milliseconds since the Unix epoch, as stamped by the backend. */
  timestamp: number;
}

/** Where a record was appended. */
export interface AppendResult {
  /** Partition the record went to. */
  partition: number;
  /** Offset the record got inside that partition. */
  offset: number;
}

/**
 * Where a read starts: an offset (the first record at or after it), `'earliest'` (the oldest
 * retained record) or `'latest'` (only records appended after the read started).
 */
export type ReadFrom = number | 'earliest' | 'latest';

/**
 * Committed positions of a consumer on one stream: partition → offset of the next record to
 * consume (that is, one past the last processed record's offset). Partitions missing from the
 * map have no committed position.
 */
export type Positions = Record<number, number>;

/** Cancellation, taken by every asynchronous call. */
export interface AbortOptions {
  /**
   * Aborts the call. For `append`, `ensureStreams`, `commit` and the like the promise rejects
   * with the signal's reason (an in-flight append may still be written). For `read` and
   * `consume` the iteration simply **ends**, without throwing.
   */
  signal?: AbortSignal;
}

/** Options of {@link Log.read}. */
export interface ReadOptions extends AbortOptions {
  /**
   * Read only this partition. Without it every partition is read; records of different
   * partitions then interleave in no particular order, each partition staying in order.
   */
  partition?: number;
  /**
   * Where to start (see {@link ReadFrom}); a number applies to every partition read.
   * @default 'earliest'
   */
  from?: ReadFrom;
  /**
   * Keep tailing after the end: wait for new records until `signal` aborts, then end cleanly.
   * Without `follow` the iteration ends at the end of the log as it was when the read reached it.
   * @default false
   */
  follow?: boolean;
}

/** Options of {@link Log.consume}. */
export interface ConsumeOptions extends AbortOptions {
  /**
   * Name of the consumer; its positions are its own on each stream (Kafka: the consumer group
   * `<consumer>@<stream>`; JetStream: a durable consumer of the stream).
   */
  consumer: string;
  /**
   * Where to start on partitions that have no committed position.
   * @default 'earliest'
   */
  from?: 'earliest' | 'latest';
}

/** A stream to create, see {@link Log.ensureStreams}. */
export interface StreamSpec {
  /** Stream name: letters, digits, `.`, `_` and `-` (see {@link assertStreamName}). */
  name: string;
  /** Number of partitions (≥ 1). Fixed once the stream exists. */
  partitions: number;
}

/** Counters of a log's group commits since it opened (see {@link Log.commitStats}). */
export interface CommitStats {
  /** Group commits acknowledged: each one acknowledges every append it holds at once. */
  commits: number;
  /** Records those commits acknowledged. */
  records: number;
  /**
   * Seconds from each commit's sync being issued to its completion being seen, summed: the
   * disk's time plus any wait for the event loop to turn. 0 for a log that does not sync
   * before it acknowledges (`fsync: 'none'` or an interval).
   */
  syncSeconds: number;
}

/**
 * An append-only, partitioned log of keyed byte records.
 *
 * Delivery is at-least-once: a consumer that crashes after processing a record but before
 * committing sees it again. IPVM's records are content-addressed, so reprocessing is idempotent.
 */
export interface Log {
  /**
   * Creates the streams that do not exist yet. Existing streams are left as they are; asking for
   * a different partition count than an existing stream has is an error
   * (`StreamConfigError`).
   */
  ensureStreams(streams: readonly StreamSpec[], options?: AbortOptions): Promise<void>;

  /** Number of partitions of `stream`; rejects with `StreamNotFoundError` when it does not exist. */
  partitions(stream: string, options?: AbortOptions): Promise<number>;

  /**
   * Appends records and resolves once the backend acknowledged all of them (for the file log:
   * written under its fsync policy; for Kafka: acked by the leader with `acks=-1`; for
   * JetStream: stored by the stream). Results are in the order of `records`.
   *
   * Records of one key keep their order, across calls too when calls are not concurrent. An
   * empty batch resolves to `[]`. A rejected append may have been partly written.
   */
  append(
    stream: string,
    records: readonly AppendRecord[],
    options?: AbortOptions,
  ): Promise<AppendResult[]>;

  /**
   * Reads records in offset order per partition, without any consumer state. With
   * `follow: true` it waits for new records until `signal` aborts; an abort always ends the
   * iteration quietly (no `AbortError`). Breaking out of the `for await` also releases the read.
   * A record that fails its integrity check is never yielded: the iteration throws a
   * `CorruptRecordError` naming where it is.
   */
  read(stream: string, options?: ReadOptions): AsyncIterable<LogRecord>;

  /**
   * Follows `stream` as the named consumer from its committed positions (or `options.from` on
   * partitions without one), until `signal` aborts (then it ends quietly). Nothing is committed
   * automatically: call {@link Log.commit} after processing. On Kafka the consumer is a
   * consumer group and each member sees only its assigned partitions; the other backends give
   * one consumer every partition.
   */
  consume(stream: string, options: ConsumeOptions): AsyncIterable<LogRecord>;

  /**
   * Commits positions (next offset to read per partition) for `consumer` on `stream`. Durable:
   * once it resolves the positions survive `close()` and a restart.
   */
  commit(
    consumer: string,
    stream: string,
    positions: Positions,
    options?: AbortOptions,
  ): Promise<void>;

  /** The committed positions of `consumer` on `stream` (an empty object when none). */
  committed(consumer: string, stream: string, options?: AbortOptions): Promise<Positions>;

  /**
   * The end of each partition of `stream`: the offset the next record appended there will have
   * (every partition is listed, 0 when empty). A reader whose next offset on a partition equals
   * its end has read all of it. On JetStream offsets are stream-wide, so the distance from a
   * position to the end also counts the other partitions' records in between.
   */
  ends(stream: string, options?: AbortOptions): Promise<Positions>;

  /**
   * What the log's group commits have done since it opened, for a backend that groups appends
   * into commits of its own: the file log does (one write and, with `fsync: 'batch'`, one sync
   * for every append made while the previous commit was on the disk). The brokers batch on
   * their side and do not report it (undefined).
   */
  commitStats?(): CommitStats;

  /**
   * Graceful drain: waits for in-flight appends and commits, ends open reads and consumes (as an
   * abort would), releases files, connections and locks. Idempotent: a second call resolves
   * when the first one does. Any other call after `close()` rejects with `LogClosedError`.
   */
  close(): Promise<void>;

  /** Same as {@link Log.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Header whose value identifies a message for de-duplication. JetStream passes it as
 * `Nats-Msg-Id`: appending a record with an id it saw within its duplicate window stores nothing
 * and returns the first record's position. The file log and Kafka store it as an ordinary header
 * (Kafka's idempotent producer only removes its own retries).
 */
export const MESSAGE_ID_HEADER = 'msg-id';

const STREAM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/**
 * Checks a stream name: 1–200 characters among letters, digits, `.`, `_` and `-`, starting with
 * a letter or digit. Names valid here are valid Kafka topic names and map onto JetStream.
 * @throws {TypeError} when the name is not valid.
 */
export function assertStreamName(name: string): void {
  if (!STREAM_NAME.test(name) || name.includes('..')) {
    throw new TypeError(`invalid stream name ${JSON.stringify(name)}`);
  }
}

const encoder = new TextEncoder();

/**
 * Kafka's murmur2 hash of bytes (the hash of Kafka's default partitioner), as a signed 32-bit
 * integer. Implemented here so every backend places keys exactly where Kafka's Java client
 * would.
 */
export function murmur2(data: Uint8Array): number {
  const length = data.length;
  const seed = 0x9747b28c;
  const m = 0x5bd1e995;
  const r = 24;
  let h = seed ^ length;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k =
      (data[i4]! & 0xff) +
      ((data[i4 + 1]! & 0xff) << 8) +
      ((data[i4 + 2]! & 0xff) << 16) +
      ((data[i4 + 3]! & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length4 * 4;
  const rest = length % 4;
  if (rest === 3) h ^= (data[tail + 2]! & 0xff) << 16;
  if (rest >= 2) h ^= (data[tail + 1]! & 0xff) << 8;
  if (rest >= 1) {
    h ^= data[tail]! & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * The partition of `key` among `partitions`: Kafka's default partitioner
 * (`(murmur2(utf8(key)) & 0x7fffffff) % partitions`). Stable across processes and backends.
 */
export function partitionForKey(key: string, partitions: number): number {
  return (murmur2(encoder.encode(key)) & 0x7fffffff) % partitions;
}
