// The Log contract on Apache Kafka through kafkajs.
//
// Mapping: a stream is a topic; the partition is computed here with Kafka's default partitioner
// (murmur2, see partitionForKey) and set explicitly, so keys land where Java clients put them;
// offsets are Kafka's (dense, from 0). Appends go through one idempotent producer (acks=-1,
// one request in flight, so retries never reorder or duplicate). `consume` is a consumer group
// per consumer and stream (`groupOf`) with auto-commit off; `commit` commits through the
// running group member, or, when no member runs in this process, joins the group for the commit
// and leaves (refused while members run elsewhere). kafkajs cannot fetch without a group, so
// `read` uses a throwaway group that commits nothing and seeks to the start offsets once it has
// joined.
import {
  Kafka,
  logLevel as KafkaLogLevel,
  type Admin,
  type Consumer,
  type IHeaders,
  type KafkaMessage,
  type LogEntry,
  type Producer,
  type RetryOptions,
} from 'kafkajs';
import { randomUUID } from 'node:crypto';
import type {
  AbortOptions,
  AppendRecord,
  AppendResult,
  ConsumeOptions,
  Log,
  LogRecord,
  Positions,
  ReadOptions,
  StreamSpec,
} from '../log.ts';
import { assertStreamName, partitionForKey } from '../log.ts';
import {
  BackendError,
  BrokerUnavailableError,
  CommitError,
  InvalidArgumentError,
  LogClosedError,
  StreamConfigError,
  StreamNotFoundError,
  StreamsError,
} from '../errors.ts';
import { Channel } from './channel.ts';

/** A minimal structured logger; kafkajs' own log lines are forwarded to it. */
export interface KafkaLogger {
  debug?(message: string, fields: Record<string, unknown>): void;
  info?(message: string, fields: Record<string, unknown>): void;
  warn?(message: string, fields: Record<string, unknown>): void;
  error?(message: string, fields: Record<string, unknown>): void;
}

/** Construction options of {@link createKafkaLog}. */
export interface KafkaLogInit {
  /** Bootstrap brokers, e.g. `['127.0.0.1:9092']`. */
  brokers: string[];
  /**
   * Client id sent to the brokers.
   * @default 'ipvm-node'
   */
  clientId?: string;
  /**
   * Replication factor of topics created by `ensureStreams`.
   * @default 1
   */
  replicationFactor?: number;
  /** Retry policy of kafkajs requests (connection, metadata, produce). @default { retries: 5 } */
  retry?: RetryOptions;
  /**
   * Connection timeout.
   * @default 3000
   */
  connectionTimeoutMs?: number;
  /**
   * Consumer-group session timeout of `consume`.
   * @default 10000
   */
  sessionTimeoutMs?: number;
  /**
   * Longest time a fetch waits for data; bounds how long stopping a read takes.
   * @default 200
   */
  maxWaitTimeMs?: number;
  /**
   * Fetched batches buffered per read or consume before the fetch loop waits.
   * @default 16
   */
  bufferSize?: number;
  /** Receives kafkajs' log lines (warnings and errors); nothing is logged without it. */
  logger?: KafkaLogger;
}

export const DEFAULT_CLIENT_ID = 'ipvm-node';
export const DEFAULT_SESSION_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_WAIT_TIME_MS = 200;
export const DEFAULT_BUFFER_SIZE = 16;

const BACKEND = 'kafka';

interface Context {
  stream?: string;
  partition?: number;
  consumer?: string;
}

/** Classifies a kafkajs error: connection trouble and retriable protocol errors are retryable. */
function classify(error: unknown, message: string, context: Context = {}): StreamsError {
  if (error instanceof StreamsError) return error;
  const e = error as
    | { name?: string; message?: string; type?: string; retriable?: boolean; cause?: unknown }
    | undefined;
  const name = e?.name ?? '';
  const text = e?.message ?? String(error);
  const options = { ...context, cause: error, backend: BACKEND };
  if (isUnknownTopic(error) || /does not host this topic-partition|UNKNOWN_TOPIC/i.test(text)) {
    return new StreamNotFoundError(context.stream ?? '?', options);
  }
  if (
    /KafkaJSConnectionError|KafkaJSRequestTimeoutError|KafkaJSBrokerNotFound|KafkaJSConnectionClosedError|KafkaJSNumberOfRetriesExceeded|KafkaJSLockTimeout/.test(
      name,
    ) ||
    /ECONNREFUSED|ECONNRESET|Connection timeout|Request timed out/i.test(text)
  ) {
    return new BrokerUnavailableError(`${message}: ${text}`, options);
  }
  return new BackendError(`${message}: ${text}`, e?.retriable === true, options);
}

function logCreator(logger: KafkaLogger | undefined) {
  return () =>
    ({ level, log }: LogEntry): void => {
      if (logger === undefined) return;
      const { message, ...fields } = log;
      const text = `kafkajs: ${message}`;
      if (level === KafkaLogLevel.ERROR) logger.error?.(text, fields);
      else if (level === KafkaLogLevel.WARN) logger.warn?.(text, fields);
      else if (level === KafkaLogLevel.INFO) logger.info?.(text, fields);
      else logger.debug?.(text, fields);
    };
}

function headerText(value: IHeaders[string]): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return headerText(value[0]);
  return typeof value === 'string' ? value : value.toString('utf8');
}

const EMPTY_VALUE = new Uint8Array(0);

function toRecord(stream: string, partition: number, message: KafkaMessage): LogRecord {
  const headers: Record<string, string> = {};
  const source = message.headers;
  if (source !== undefined) for (const name in source) headers[name] = headerText(source[name]);
  const value = message.value;
  return {
    stream,
    partition,
    offset: Number(message.offset),
    key: message.key === null ? '' : message.key.toString('utf8'),
    // A Buffer is a Uint8Array: handed over as is, without another view object.
    value: value ?? EMPTY_VALUE,
    headers,
    timestamp: Number(message.timestamp),
  };
}

/** Creates a {@link Log} on Apache Kafka. Connects on first use. */
export function createKafkaLog(init: KafkaLogInit): Log {
  if (!Array.isArray(init.brokers) || init.brokers.length === 0)
    throw new TypeError('brokers are required');
  return new KafkaLog(init);
}

interface Active {
  consumer: Consumer;
}

/**
 * The Kafka consumer group of a consumer of a stream: `<consumer>@<stream>` (no stream name has
 * an `@`). A consumer's positions are its own on each stream, as a JetStream durable's are
 * (one per stream): a group spanning topics would share its members across them, and kafkajs's
 * round-robin assigner gives out only the partitions of its leader's topics (tulios/kafkajs
 * #1679), so one name on two streams — the table indexer's, or the executors' of two
 * namespaces on one cluster — left all but one topic unread.
 */
export function groupOf(consumer: string, stream: string): string {
  return `${consumer}@${stream}`;
}

class KafkaLog implements Log {
  readonly #init: KafkaLogInit;
  readonly #kafka: Kafka;
  readonly #closing = new AbortController();
  #admin: Promise<Admin> | undefined;
  #producer: Promise<Producer> | undefined;
  #closed: Promise<void> | undefined;
  readonly #partitions = new Map<string, number>();
  readonly #active = new Map<string, Active>(); // consumer \0 stream → running group member
  readonly #running = new Set<Promise<unknown>>();

  constructor(init: KafkaLogInit) {
    this.#init = init;
    this.#kafka = new Kafka({
      clientId: init.clientId ?? DEFAULT_CLIENT_ID,
      brokers: init.brokers,
      connectionTimeout: init.connectionTimeoutMs ?? 3_000,
      retry: init.retry ?? { retries: 5 },
      logLevel: init.logger === undefined ? KafkaLogLevel.NOTHING : KafkaLogLevel.WARN,
      logCreator: logCreator(init.logger),
    });
  }

  #check(stream?: string): void {
    if (this.#closed !== undefined) throw new LogClosedError({ stream, backend: BACKEND });
  }

  /** Tracks a call so that close() waits for it. */
  async #track<T>(work: Promise<T>): Promise<T> {
    this.#running.add(work);
    try {
      return await work;
    } finally {
      this.#running.delete(work);
    }
  }

  #getAdmin(): Promise<Admin> {
    this.#admin ??= (async () => {
      const admin = this.#kafka.admin();
      try {
        await admin.connect();
        return admin;
      } catch (error) {
        this.#admin = undefined;
        throw classify(error, 'cannot connect to Kafka');
      }
    })();
    return this.#admin;
  }

  #getProducer(): Promise<Producer> {
    this.#producer ??= (async () => {
      const producer = this.#kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: false,
        retry: this.#init.retry ?? { retries: 5 },
      });
      try {
        await producer.connect();
        return producer;
      } catch (error) {
        this.#producer = undefined;
        throw classify(error, 'cannot connect to Kafka');
      }
    })();
    return this.#producer;
  }

  /**
   * Runs an admin call; if it fails with "unknown topic", retries once on a fresh admin client.
   * kafkajs keeps every topic a client ever asked about in its metadata requests, so once any of
   * them is deleted, every later metadata refresh of that client fails with "unknown topic".
   */
  async #withAdmin<T>(call: (admin: Admin) => Promise<T>): Promise<T> {
    const admin = await this.#getAdmin();
    try {
      return await call(admin);
    } catch (error) {
      if (!isUnknownTopic(error)) throw error;
      if (this.#admin !== undefined) {
        this.#admin = undefined;
        void admin.disconnect().catch(() => undefined);
      }
      return call(await this.#getAdmin());
    }
  }

  /** Same as {@link #withAdmin} for the producer (the failure happens before anything is sent). */
  async #withProducer<T>(call: (producer: Producer) => Promise<T>): Promise<T> {
    const producer = await this.#getProducer();
    try {
      return await call(producer);
    } catch (error) {
      if (!isUnknownTopic(error)) throw error;
      if (this.#producer !== undefined) {
        this.#producer = undefined;
        void producer.disconnect().catch(() => undefined);
      }
      return call(await this.#getProducer());
    }
  }

  async #partitionCount(stream: string): Promise<number> {
    const known = this.#partitions.get(stream);
    if (known !== undefined) return known;
    try {
      const { topics } = await this.#withAdmin((admin) =>
        admin.fetchTopicMetadata({ topics: [stream] }),
      );
      const count = topics[0]?.partitions.length ?? 0;
      if (count === 0) throw new StreamNotFoundError(stream, { backend: BACKEND });
      this.#partitions.set(stream, count);
      return count;
    } catch (error) {
      throw classify(error, `cannot describe ${stream}`, { stream });
    }
  }

  ensureStreams(streams: readonly StreamSpec[], options: AbortOptions = {}): Promise<void> {
    return this.#track(this.#ensureStreams(streams, options));
  }

  async #ensureStreams(streams: readonly StreamSpec[], options: AbortOptions): Promise<void> {
    options.signal?.throwIfAborted();
    this.#check();
    const missing: StreamSpec[] = [];
    for (const spec of streams) {
      validateSpec(spec);
      let existing: number | undefined;
      try {
        existing = await this.#partitionCount(spec.name);
      } catch (error) {
        if (!(error instanceof StreamNotFoundError)) throw error;
      }
      if (existing === undefined) missing.push(spec);
      else if (existing !== spec.partitions) {
        throw new StreamConfigError(
          `topic ${spec.name} has ${existing} partitions, not ${spec.partitions}`,
          {
            stream: spec.name,
            backend: BACKEND,
          },
        );
      }
    }
    if (missing.length === 0) return;
    try {
      await this.#withAdmin((admin) =>
        admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((spec) => ({
            topic: spec.name,
            numPartitions: spec.partitions,
            replicationFactor: this.#init.replicationFactor ?? 1,
          })),
        }),
      );
    } catch (error) {
      // A busy broker may answer the metadata refresh that follows the creation with "unknown
      // topic" (retriable): the topic exists, its metadata is just not everywhere yet.
      const benign = ['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'TOPIC_ALREADY_EXISTS'];
      if (!errorTypes(error).some((type) => benign.includes(type))) {
        throw classify(error, `cannot create ${missing.map((s) => s.name).join(', ')}`, {
          stream: missing[0]!.name,
        });
      }
    }
    for (const spec of missing) {
      this.#partitions.delete(spec.name);
      const count = await this.#waitForTopic(spec.name, options.signal);
      if (count !== spec.partitions) {
        throw new StreamConfigError(`topic ${spec.name} was created with ${count} partitions`, {
          stream: spec.name,
          backend: BACKEND,
        });
      }
    }
  }

  /** Waits until a just-created topic shows up in the metadata (up to 30 s). */
  async #waitForTopic(stream: string, signal: AbortSignal | undefined): Promise<number> {
    const deadline = Date.now() + 30_000;
    for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
      try {
        return await this.#partitionCount(stream);
      } catch (error) {
        if (!(error instanceof StreamNotFoundError) || Date.now() > deadline) throw error;
      }
      signal?.throwIfAborted();
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  async partitions(stream: string, options: AbortOptions = {}): Promise<number> {
    options.signal?.throwIfAborted();
    this.#check(stream);
    return this.#partitionCount(stream);
  }

  append(
    stream: string,
    records: readonly AppendRecord[],
    options: AbortOptions = {},
  ): Promise<AppendResult[]> {
    return this.#track(this.#append(stream, records, options));
  }

  async #append(
    stream: string,
    records: readonly AppendRecord[],
    options: AbortOptions,
  ): Promise<AppendResult[]> {
    options.signal?.throwIfAborted();
    this.#check(stream);
    const partitions = await this.#partitionCount(stream);
    if (records.length === 0) return [];
    const results = new Array<AppendResult>(records.length);
    const indexInPartition = new Array<number>(records.length);
    const counts = new Map<number, number>();
    const messages = records.map((record, i) => {
      if (typeof record.key !== 'string' || !(record.value instanceof Uint8Array)) {
        throw new InvalidArgumentError(`record ${i}: key must be a string and value a Uint8Array`, {
          stream,
          backend: BACKEND,
        });
      }
      const partition = partitions === 1 ? 0 : partitionForKey(record.key, partitions);
      const n = counts.get(partition) ?? 0;
      counts.set(partition, n + 1);
      indexInPartition[i] = n;
      results[i] = { partition, offset: -1 };
      const v = record.value;
      return {
        key: record.key,
        value: Buffer.from(v.buffer, v.byteOffset, v.byteLength),
        partition,
        ...(record.headers === undefined ? {} : { headers: record.headers }),
      };
    });
    let metadata;
    try {
      metadata = await this.#withProducer((producer) =>
        producer.send({ topic: stream, acks: -1, messages }),
      );
    } catch (error) {
      throw classify(error, `cannot append to ${stream}`, { stream });
    }
    // One produce request carries each partition's messages as one batch, in order: the i-th
    // message of a partition got baseOffset + i.
    const base = new Map<number, number>();
    for (const m of metadata) base.set(m.partition, Number(m.baseOffset));
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      const b = base.get(r.partition);
      if (b === undefined) {
        throw new BackendError(`no offset returned for partition ${r.partition}`, false, {
          stream,
          partition: r.partition,
          backend: BACKEND,
        });
      }
      r.offset = b + indexInPartition[i]!;
    }
    return results;
  }

  #signal(user: AbortSignal | undefined): { signal: AbortSignal; dispose: () => void } {
    const local = new AbortController();
    const signals = [this.#closing.signal, local.signal];
    if (user !== undefined) signals.push(user);
    return { signal: AbortSignal.any(signals), dispose: () => local.abort() };
  }

  read(stream: string, options: ReadOptions = {}): AsyncIterable<LogRecord> {
    return this.#read(stream, options);
  }

  async *#read(stream: string, options: ReadOptions): AsyncGenerator<LogRecord> {
    this.#check(stream);
    const partitions = await this.#partitionCount(stream);
    if (
      options.partition !== undefined &&
      (!Number.isSafeInteger(options.partition) ||
        options.partition < 0 ||
        options.partition >= partitions)
    ) {
      throw new InvalidArgumentError(`partition ${options.partition} does not exist`, {
        stream,
        partition: options.partition,
        backend: BACKEND,
      });
    }
    const from = options.from ?? 'earliest';
    if (typeof from === 'number' && (!Number.isSafeInteger(from) || from < 0)) {
      throw new InvalidArgumentError(`invalid start offset ${from}`, { stream, backend: BACKEND });
    }
    const { signal, dispose } = this.#signal(options.signal);
    if (signal.aborted) return;
    const follow = options.follow ?? false;
    const wanted =
      options.partition === undefined
        ? Array.from({ length: partitions }, (_, p) => p)
        : [options.partition];
    let watermarks;
    try {
      watermarks = await this.#withAdmin((admin) => admin.fetchTopicOffsets(stream));
    } catch (error) {
      throw classify(error, `cannot read ${stream}`, { stream });
    }
    const low = new Map(watermarks.map((w) => [w.partition, Number(w.low)]));
    const high = new Map(watermarks.map((w) => [w.partition, Number(w.high)]));
    const start = new Map<number, number>();
    for (const p of wanted) {
      const l = low.get(p) ?? 0;
      const h = high.get(p) ?? 0;
      start.set(
        p,
        from === 'earliest'
          ? l
          : from === 'latest'
            ? h
            : Math.min(Math.max(from, l), Math.max(h, from)),
      );
    }
    // Without follow, stop at the high watermarks of now.
    const remaining = new Set(
      follow ? [] : wanted.filter((p) => start.get(p)! < (high.get(p) ?? 0)),
    );
    if (!follow && remaining.size === 0) return;

    const channel = new Channel<LogRecord[]>(this.#init.bufferSize ?? DEFAULT_BUFFER_SIZE);
    const groupId = `ipvm-read-${randomUUID()}`;
    const consumer = this.#consumer(groupId);
    const onAbort = (): void => channel.close();
    signal.addEventListener('abort', onAbort, { once: true });
    const wantedSet = new Set(wanted);
    // The next offset to yield per partition: records below it (fetched before a seek, or
    // again after a rebalance) are skipped, so each is yielded once and in order.
    const next = new Map(start);
    try {
      // A new group starts at the earliest offsets by itself; any other start is a seek once the
      // group has joined (before that kafkajs refuses it: "consumer group was not initialized").
      // Committing the start for the group first (admin.setOffsets) costs seconds a read.
      if (from !== 'earliest') {
        consumer.on(consumer.events.GROUP_JOIN, () => {
          for (const p of wanted)
            consumer.seek({ topic: stream, partition: p, offset: String(next.get(p)) });
        });
      }
      await consumer.connect();
      await consumer.subscribe({ topics: [stream], fromBeginning: true });
      consumer.on(consumer.events.CRASH, (event) => {
        if (event.payload.restart !== true)
          channel.close(classify(event.payload.error, `cannot read ${stream}`, { stream }));
      });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch }) => {
          if (!wantedSet.has(batch.partition) || channel.closed) return;
          await channel.push(batch.messages.map((m) => toRecord(stream, batch.partition, m)));
        },
      });
      const others = Array.from({ length: partitions }, (_, p) => p).filter(
        (p) => !wantedSet.has(p),
      );
      if (others.length > 0) consumer.pause([{ topic: stream, partitions: others }]);
      for (
        let records = await channel.take();
        records !== undefined;
        records = await channel.take()
      ) {
        for (const record of records) {
          if (signal.aborted) return;
          if (record.offset < next.get(record.partition)!) continue;
          next.set(record.partition, record.offset + 1);
          if (!follow) {
            if (!remaining.has(record.partition)) continue;
            if (record.offset >= high.get(record.partition)!) continue;
          }
          yield record;
          if (!follow && record.offset + 1 >= high.get(record.partition)!) {
            remaining.delete(record.partition);
            if (remaining.size === 0) return;
          }
        }
      }
    } catch (error) {
      throw classify(error, `cannot read ${stream}`, { stream });
    } finally {
      signal.removeEventListener('abort', onAbort);
      dispose();
      channel.close();
      await consumer.disconnect().catch(() => undefined);
    }
  }

  consume(stream: string, options: ConsumeOptions): AsyncIterable<LogRecord> {
    return this.#consume(stream, options);
  }

  async *#consume(stream: string, options: ConsumeOptions): AsyncGenerator<LogRecord> {
    this.#check(stream);
    const groupId = options.consumer;
    if (typeof groupId !== 'string' || groupId === '') {
      throw new InvalidArgumentError('consumer name is required', { stream, backend: BACKEND });
    }
    await this.#partitionCount(stream);
    const key = `${groupId}\u0000${stream}`;
    if (this.#active.has(key)) {
      throw new InvalidArgumentError(
        `consumer ${groupId} is already consuming ${stream} in this process`,
        {
          stream,
          consumer: groupId,
          backend: BACKEND,
        },
      );
    }
    const { signal, dispose } = this.#signal(options.signal);
    if (signal.aborted) return;
    const channel = new Channel<LogRecord[]>(this.#init.bufferSize ?? DEFAULT_BUFFER_SIZE);
    const consumer = this.#consumer(groupOf(groupId, stream));
    this.#active.set(key, { consumer });
    const onAbort = (): void => channel.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await this.#adoptBarePositions(groupId, stream);
      await consumer.connect();
      await consumer.subscribe({
        topics: [stream],
        fromBeginning: (options.from ?? 'earliest') === 'earliest',
      });
      consumer.on(consumer.events.CRASH, (event) => {
        if (event.payload.restart !== true) {
          channel.close(
            classify(event.payload.error, `cannot consume ${stream}`, {
              stream,
              consumer: groupId,
            }),
          );
        }
      });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        eachBatch: async ({ batch }) => {
          if (channel.closed) return;
          await channel.push(batch.messages.map((m) => toRecord(stream, batch.partition, m)));
        },
      });
      for (
        let records = await channel.take();
        records !== undefined;
        records = await channel.take()
      ) {
        for (const record of records) {
          if (signal.aborted) return;
          yield record;
        }
      }
    } catch (error) {
      throw classify(error, `cannot consume ${stream}`, { stream, consumer: groupId });
    } finally {
      signal.removeEventListener('abort', onAbort);
      dispose();
      channel.close();
      this.#active.delete(key);
      await consumer.disconnect().catch(() => undefined);
    }
  }

  commit(
    consumer: string,
    stream: string,
    positions: Positions,
    options: AbortOptions = {},
  ): Promise<void> {
    return this.#track(this.#commit(consumer, stream, positions, options));
  }

  async #commit(
    groupId: string,
    stream: string,
    positions: Positions,
    options: AbortOptions,
  ): Promise<void> {
    options.signal?.throwIfAborted();
    this.#check(stream);
    const partitions = await this.#partitionCount(stream);
    const entries = Object.entries(positions).map(([key, position]) => {
      const partition = Number(key);
      if (
        !Number.isSafeInteger(partition) ||
        partition < 0 ||
        partition >= partitions ||
        !Number.isSafeInteger(position) ||
        position < 0
      ) {
        throw new InvalidArgumentError(`invalid position ${position} for partition ${key}`, {
          stream,
          consumer: groupId,
          partition,
          backend: BACKEND,
        });
      }
      return { partition, offset: String(position) };
    });
    if (entries.length === 0) return;
    const active = this.#active.get(`${groupId}\u0000${stream}`);
    try {
      if (active !== undefined) {
        await active.consumer.commitOffsets(entries.map((e) => ({ topic: stream, ...e })));
      } else {
        await this.#commitAsMember(groupOf(groupId, stream), stream, entries);
      }
    } catch (error) {
      const classified = classify(error, `cannot commit ${groupId}`, { stream, consumer: groupId });
      throw new CommitError(classified.message, classified.retryable, {
        cause: error,
        stream,
        consumer: groupId,
        backend: BACKEND,
      });
    }
  }

  /**
   * Gives `consumer`'s group on `stream` the positions committed under the bare name (the group
   * of every stream before `groupOf`), when it has none of its own yet: an upgraded node resumes
   * where it stopped instead of reading the stream again. Best effort: another node doing the
   * same at once has joined the group (this commit is then refused, and that one's stands), and
   * anything else that fails here fails again, reported, when the consumer connects.
   */
  async #adoptBarePositions(consumer: string, stream: string): Promise<void> {
    try {
      const [own, bare] = await this.#withAdmin((admin) =>
        Promise.all([
          admin.fetchOffsets({ groupId: groupOf(consumer, stream), topics: [stream] }),
          admin.fetchOffsets({ groupId: consumer, topics: [stream] }),
        ]),
      );
      const committed = (topics: typeof own) =>
        (topics[0]?.partitions ?? []).filter((p) => Number(p.offset) >= 0);
      const carried = committed(bare);
      if (committed(own).length > 0 || carried.length === 0) return;
      await this.#commitAsMember(
        groupOf(consumer, stream),
        stream,
        carried.map(({ partition, offset }) => ({ partition, offset })),
      );
    } catch {
      // (best effort, see above)
    }
  }

  /** A consumer of `groupId` with this log's settings (reads, consumes and commits alike). */
  #consumer(groupId: string): Consumer {
    return this.#kafka.consumer({
      groupId,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: this.#init.maxWaitTimeMs ?? DEFAULT_MAX_WAIT_TIME_MS,
      sessionTimeout: this.#init.sessionTimeoutMs ?? DEFAULT_SESSION_TIMEOUT_MS,
      retry: this.#init.retry ?? { retries: 5 },
    });
  }

  /**
   * Commits for a group none of whose members runs in this process: joins it for the commit,
   * then leaves. Refused while members run elsewhere (joining would take their partitions away).
   * (`admin.setOffsets` does the same but waits a whole fetch wait, 5 s, on paused partitions.)
   */
  async #commitAsMember(
    groupId: string,
    stream: string,
    entries: Array<{ partition: number; offset: string }>,
  ): Promise<void> {
    const { groups } = await this.#withAdmin((admin) => admin.describeGroups([groupId]));
    const state = groups[0]?.state;
    if (state !== undefined && state !== 'Empty' && state !== 'Dead' && state !== 'Unknown')
      throw new Error(
        `consumer group ${groupId} on ${stream} has running members (state ${state}): commit through one of them`,
      );
    const consumer = this.#consumer(groupId);
    try {
      const joined = new Promise<void>((resolve, reject) => {
        consumer.on(consumer.events.GROUP_JOIN, () => resolve());
        consumer.on(consumer.events.CRASH, (event) => reject(event.payload.error));
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [stream] });
      await consumer.run({ autoCommit: false, eachBatch: () => Promise.resolve() });
      consumer.pause([{ topic: stream }]);
      await joined;
      await consumer.commitOffsets(entries.map((e) => ({ topic: stream, ...e })));
    } finally {
      await consumer.disconnect().catch(() => undefined);
    }
  }

  async committed(
    consumer: string,
    stream: string,
    options: AbortOptions = {},
  ): Promise<Positions> {
    options.signal?.throwIfAborted();
    this.#check(stream);
    await this.#partitionCount(stream);
    try {
      const topics = await this.#withAdmin((admin) =>
        admin.fetchOffsets({ groupId: groupOf(consumer, stream), topics: [stream] }),
      );
      const positions: Positions = {};
      for (const { partition, offset } of topics[0]?.partitions ?? []) {
        const n = Number(offset);
        if (n >= 0) positions[partition] = n;
      }
      return positions;
    } catch (error) {
      throw classify(error, `cannot read the positions of ${consumer}`, { stream, consumer });
    }
  }

  async ends(stream: string, options: AbortOptions = {}): Promise<Positions> {
    options.signal?.throwIfAborted();
    this.#check(stream);
    await this.#partitionCount(stream);
    try {
      const offsets = await this.#withAdmin((admin) => admin.fetchTopicOffsets(stream));
      const ends: Positions = {};
      for (const { partition, high } of offsets) ends[partition] = Number(high);
      return ends;
    } catch (error) {
      throw classify(error, `cannot read the end offsets of ${stream}`, { stream });
    }
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.allSettled(this.#running);
      this.#closing.abort();
      // Consumers disconnect in their generators' finally blocks once the abort reaches them.
      const producer = this.#producer;
      const admin = this.#admin;
      await Promise.allSettled([
        producer?.then((p) => p.disconnect()),
        admin?.then((a) => a.disconnect()),
      ]);
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** The kafkajs error types along an error's cause chain (kafkajs wraps retried errors). */
function errorTypes(error: unknown): string[] {
  const types: string[] = [];
  let current = error as { type?: unknown; cause?: unknown; originalError?: unknown } | undefined;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    if (typeof current.type === 'string') types.push(current.type);
    current = (current.cause ?? current.originalError) as typeof current;
  }
  return types;
}

function isUnknownTopic(error: unknown): boolean {
  return errorTypes(error).includes('UNKNOWN_TOPIC_OR_PARTITION');
}

function validateSpec(spec: StreamSpec): void {
  try {
    assertStreamName(spec.name);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message, {
      stream: spec.name,
      backend: BACKEND,
      cause: error,
    });
  }
  if (!Number.isSafeInteger(spec.partitions) || spec.partitions < 1) {
    throw new InvalidArgumentError(`partitions of ${spec.name} must be a positive integer`, {
      stream: spec.name,
      backend: BACKEND,
    });
  }
}
