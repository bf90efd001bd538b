// The Log contract on NATS JetStream (nats-server 2.9+; no 2.10-only features).
//
// Mapping:
// - one JetStream stream per log stream, named after it with `.` replaced by `_` (JetStream
//   names cannot hold dots), with one subject per partition: `<subjectPrefix><stream>.<p>`;
// - offset = stream sequence − 1: unique in the stream and increasing inside a partition, but
//   not dense per partition (the other partitions' messages take the sequence numbers between);
// - the record key and headers travel in the `Ipvm-Key` and `Ipvm-Headers` message headers; the
//   `msg-id` record header becomes `Nats-Msg-Id` (server-side de-duplication);
// - `read` uses ordered consumers (ephemeral, in memory); `consume` uses one durable pull
//   consumer per (consumer, partition) with `AckPolicy.Explicit`, shared by every process
//   consuming as that consumer (so several nodes split the messages); `commit` acks this
//   process's delivered messages before the position, one by one — never those delivered to
//   another process, which come again after `ack_wait` if that process dies — and `committed`
//   reads the consumers' ack floors.
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type ConsumerMessages,
} from '@nats-io/jetstream';
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
import { assertStreamName, MESSAGE_ID_HEADER, partitionForKey } from '../log.ts';
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
import { mergeAsync } from '../merge.ts';

/** Construction options of {@link createJetStreamLog}. */
export interface JetStreamLogInit {
  /** Server URL(s), e.g. `nats://127.0.0.1:4222`. Ignored when `connection` is given. */
  servers?: string | string[];
  /** An existing connection to use; it is not closed by `close()`. */
  connection?: NatsConnection;
  /**
   * Prefix of every subject (e.g. `'log.'` → `log.ipvm.pure.0`), to keep log traffic apart
   * from other subjects.
   * @default ''
   */
  subjectPrefix?: string;
  /**
   * Storage of created streams.
   * @default 'file'
   */
  storage?: 'file' | 'memory';
  /**
   * De-duplication window of created streams, for `msg-id` headers.
   * @default 120000
   */
  duplicateWindowMs?: number;
  /**
   * Redelivery delay of unacknowledged messages of durable consumers.
   * @default 30000
   */
  ackWaitMs?: number;
  /**
   * Messages buffered per partition by readers and consumers.
   * @default 512
   */
  batchSize?: number;
  /**
   * Time limit of one JetStream API or publish request.
   * @default 10000
   */
  requestTimeoutMs?: number;
}

export const DEFAULT_DUPLICATE_WINDOW_MS = 120_000;
export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_BATCH_SIZE = 512;
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

const BACKEND = 'jetstream';
const KEY_HEADER = 'Ipvm-Key';
const HEADERS_HEADER = 'Ipvm-Headers';
const PARTITIONS_MARK = 'ipvm-log partitions=';

/** Classifies a NATS error as a streams error. */
function classify(
  error: unknown,
  message: string,
  context: { stream?: string; partition?: number; consumer?: string } = {},
): StreamsError {
  if (error instanceof StreamsError) return error;
  const name = error instanceof Error ? error.name : '';
  const text = error instanceof Error ? error.message : String(error);
  const options = { ...context, cause: error, backend: BACKEND };
  if (name === 'StreamNotFoundError' || /stream not found/i.test(text)) {
    return new StreamNotFoundError(context.stream ?? '?', options);
  }
  if (
    /Timeout|Connection|NoResponders|Closed|Draining|JetStreamNotEnabled/.test(name) ||
    /ECONNREFUSED|ECONNRESET|timeout|no responders|closed|disconnect/i.test(text)
  ) {
    return new BrokerUnavailableError(`${message}: ${text}`, options);
  }
  return new BackendError(`${message}: ${text}`, false, options);
}

function jsName(stream: string): string {
  return stream.replaceAll('.', '_');
}

/** Durable consumer names allow no `.`, `*`, `>` or whitespace; a short hash keeps them unique. */
function durableName(consumer: string, stream: string, partition: number): string {
  const raw = `${consumer}\u0000${stream}`;
  let h = 0x811c9dc5;
  for (let i = 0; i < raw.length; i++) h = Math.imul(h ^ raw.charCodeAt(i), 0x01000193);
  const safe = `${consumer}_${stream}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 200);
  return `${safe}_${(h >>> 0).toString(36)}_p${partition}`;
}

interface StreamMeta {
  partitions: number;
}

/** Delivered, not yet committed messages of one active consume, per partition, in order. */
type Inflight = Map<number, JsMsg[]>;

/**
 * Creates a {@link Log} on NATS JetStream. Connects on first use.
 *
 * Offsets are the JetStream stream sequence minus one: they start at 0 for the first message of
 * the stream and increase inside a partition, but are not dense per partition.
 */
export function createJetStreamLog(init: JetStreamLogInit): Log {
  if (init.connection === undefined && init.servers === undefined) {
    throw new TypeError('servers or connection is required');
  }
  return new JetStreamLog(init);
}

class JetStreamLog implements Log {
  readonly #init: JetStreamLogInit;
  readonly #prefix: string;
  readonly #batch: number;
  readonly #timeout: number;
  readonly #closing = new AbortController();
  #connection:
    Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> | undefined;
  #closed: Promise<void> | undefined;
  readonly #meta = new Map<string, StreamMeta>();
  readonly #inflight = new Map<string, Inflight>(); // consumer \0 stream → delivered messages
  /** In-flight appends and commits, which close() waits for. */
  readonly #inFlight = new Set<Promise<unknown>>();

  constructor(init: JetStreamLogInit) {
    this.#init = init;
    this.#prefix = init.subjectPrefix ?? '';
    this.#batch = init.batchSize ?? DEFAULT_BATCH_SIZE;
    this.#timeout = init.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  }

  #subject(stream: string, partition: number): string {
    return `${this.#prefix}${stream}.${partition}`;
  }

  #check(stream?: string): void {
    if (this.#closed !== undefined) throw new LogClosedError({ stream, backend: BACKEND });
  }

  #connect(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> {
    this.#connection ??= (async () => {
      try {
        const nc =
          this.#init.connection ??
          (await connect({
            servers: this.#init.servers,
            timeout: this.#timeout,
            name: 'ipvm-log',
          }));
        const jsm = await jetstreamManager(nc, { timeout: this.#timeout });
        const js = jetstream(nc, { timeout: this.#timeout });
        return { nc, js, jsm };
      } catch (error) {
        this.#connection = undefined;
        throw classify(error, 'cannot connect to NATS');
      }
    })();
    return this.#connection;
  }

  async #streamMeta(stream: string): Promise<StreamMeta> {
    const known = this.#meta.get(stream);
    if (known !== undefined) return known;
    const { jsm } = await this.#connect();
    try {
      const info = await jsm.streams.info(jsName(stream));
      const meta = { partitions: partitionsOf(info.config.description, info.config.subjects) };
      this.#meta.set(stream, meta);
      return meta;
    } catch (error) {
      throw classify(error, `cannot describe ${stream}`, { stream });
    }
  }

  async ensureStreams(streams: readonly StreamSpec[], options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    this.#check();
    const { jsm } = await this.#connect();
    for (const spec of streams) {
      validateSpec(spec);
      let existing: number | undefined;
      try {
        const info = await jsm.streams.info(jsName(spec.name));
        existing = partitionsOf(info.config.description, info.config.subjects);
      } catch (error) {
        const classified = classify(error, `cannot describe ${spec.name}`, { stream: spec.name });
        if (!(classified instanceof StreamNotFoundError)) throw classified;
      }
      if (existing !== undefined) {
        if (existing !== spec.partitions) {
          throw new StreamConfigError(
            `stream ${spec.name} has ${existing} partitions, not ${spec.partitions}`,
            {
              stream: spec.name,
              backend: BACKEND,
            },
          );
        }
        this.#meta.set(spec.name, { partitions: existing });
        continue;
      }
      try {
        await jsm.streams.add({
          name: jsName(spec.name),
          description: `${PARTITIONS_MARK}${spec.partitions}`,
          subjects: Array.from({ length: spec.partitions }, (_, p) => this.#subject(spec.name, p)),
          storage: this.#init.storage === 'memory' ? StorageType.Memory : StorageType.File,
          retention: RetentionPolicy.Limits,
          discard: DiscardPolicy.Old,
          duplicate_window:
            (this.#init.duplicateWindowMs ?? DEFAULT_DUPLICATE_WINDOW_MS) * 1_000_000,
          num_replicas: 1,
        });
      } catch (error) {
        throw classify(error, `cannot create ${spec.name}`, { stream: spec.name });
      }
      this.#meta.set(spec.name, { partitions: spec.partitions });
    }
  }

  async partitions(stream: string, options: AbortOptions = {}): Promise<number> {
    options.signal?.throwIfAborted();
    this.#check(stream);
    return (await this.#streamMeta(stream)).partitions;
  }

  append(
    stream: string,
    records: readonly AppendRecord[],
    options: AbortOptions = {},
  ): Promise<AppendResult[]> {
    const work = this.#append(stream, records, options);
    this.#inFlight.add(work);
    return work.finally(() => this.#inFlight.delete(work));
  }

  async #append(
    stream: string,
    records: readonly AppendRecord[],
    options: AbortOptions = {},
  ): Promise<AppendResult[]> {
    options.signal?.throwIfAborted();
    this.#check(stream);
    const { partitions } = await this.#streamMeta(stream);
    if (records.length === 0) return [];
    const { js } = await this.#connect();
    // Publishes of one connection are stored in the order sent, so firing the batch at once
    // keeps per-key order while paying one round trip for the whole batch.
    const acks = records.map((record, i) => {
      if (typeof record.key !== 'string' || !(record.value instanceof Uint8Array)) {
        return Promise.reject(
          new InvalidArgumentError(`record ${i}: key must be a string and value a Uint8Array`, {
            stream,
            backend: BACKEND,
          }),
        );
      }
      const partition = partitions === 1 ? 0 : partitionForKey(record.key, partitions);
      const h = natsHeaders();
      h.set(KEY_HEADER, encodeURIComponent(record.key));
      let msgID: string | undefined;
      if (record.headers !== undefined) {
        msgID = record.headers[MESSAGE_ID_HEADER];
        if (Object.keys(record.headers).length > 0)
          h.set(HEADERS_HEADER, JSON.stringify(record.headers));
      }
      return js
        .publish(this.#subject(stream, partition), record.value, {
          headers: h,
          ...(msgID === undefined ? {} : { msgID }),
          timeout: this.#timeout,
        })
        .then(
          (ack) => ({ partition, offset: ack.seq - 1 }),
          (error: unknown) => {
            throw classify(error, `cannot append to ${stream}`, { stream, partition });
          },
        );
    });
    return Promise.all(acks);
  }

  #toRecord(stream: string, msg: JsMsg): LogRecord {
    const h = msg.headers;
    const key = h?.get(KEY_HEADER) ?? '';
    const extra = h?.get(HEADERS_HEADER) ?? '';
    return {
      stream,
      partition: Number(msg.subject.slice(msg.subject.lastIndexOf('.') + 1)),
      offset: msg.seq - 1,
      key: key.includes('%') ? decodeURIComponent(key) : key,
      value: msg.data,
      headers: extra === '' ? {} : (JSON.parse(extra) as Record<string, string>),
      timestamp: Math.floor(msg.info.timestampNanos / 1_000_000),
    };
  }

  read(stream: string, options: ReadOptions = {}): AsyncIterable<LogRecord> {
    return this.#read(stream, options);
  }

  async *#read(stream: string, options: ReadOptions): AsyncGenerator<LogRecord> {
    this.#check(stream);
    const { partitions } = await this.#streamMeta(stream);
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
    const signal = this.#signal(options.signal);
    if (signal.signal.aborted) return;
    const follow = options.follow ?? false;
    const { js, jsm } = await this.#connect();
    const name = jsName(stream);
    const filter =
      options.partition === undefined ? undefined : this.#subject(stream, options.partition);
    // Without follow, read up to the last sequence stored now.
    let endSeq = Infinity;
    if (!follow) {
      if (from === 'latest') return;
      endSeq = await this.#lastSeq(jsm, stream, filter);
      if (endSeq === 0 || (typeof from === 'number' && from + 1 > endSeq)) return;
    }
    const consumer = await js.consumers
      .get(name, {
        ...(filter === undefined ? {} : { filter_subjects: filter }),
        ...(from === 'earliest'
          ? { deliver_policy: DeliverPolicy.All }
          : from === 'latest'
            ? { deliver_policy: DeliverPolicy.New }
            : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from + 1 }),
      })
      .catch((error: unknown) => {
        throw classify(error, `cannot read ${stream}`, { stream });
      });
    const messages = await consumer
      .consume({ max_messages: this.#batch })
      .catch((error: unknown) => {
        throw classify(error, `cannot read ${stream}`, { stream });
      });
    const stop = (): void => {
      void messages.close().catch(() => undefined);
    };
    signal.signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const msg of messages) {
        if (signal.signal.aborted) return;
        yield this.#toRecord(stream, msg);
        if (msg.seq >= endSeq) return;
      }
    } finally {
      signal.signal.removeEventListener('abort', stop);
      signal.dispose();
      stop();
    }
  }

  async #lastSeq(
    jsm: JetStreamManager,
    stream: string,
    subject: string | undefined,
  ): Promise<number> {
    try {
      if (subject === undefined) {
        const info = await jsm.streams.info(jsName(stream));
        return info.state.messages === 0 ? 0 : info.state.last_seq;
      }
      const msg = await jsm.streams.getMessage(jsName(stream), { last_by_subj: subject });
      return msg?.seq ?? 0;
    } catch (error) {
      if (/no message found|message not found/i.test(String((error as Error).message))) return 0;
      throw classify(error, `cannot describe ${stream}`, { stream });
    }
  }

  /** A signal that aborts on the caller's signal, on close, or when disposed. */
  #signal(user: AbortSignal | undefined): { signal: AbortSignal; dispose: () => void } {
    const local = new AbortController();
    const signals = [this.#closing.signal, local.signal];
    if (user !== undefined) signals.push(user);
    return { signal: AbortSignal.any(signals), dispose: () => local.abort() };
  }

  consume(stream: string, options: ConsumeOptions): AsyncIterable<LogRecord> {
    return this.#consume(stream, options);
  }

  async *#consume(stream: string, options: ConsumeOptions): AsyncGenerator<LogRecord> {
    this.#check(stream);
    const consumer = options.consumer;
    if (typeof consumer !== 'string' || consumer === '') {
      throw new InvalidArgumentError('consumer name is required', { stream, backend: BACKEND });
    }
    const { partitions } = await this.#streamMeta(stream);
    const { js, jsm } = await this.#connect();
    const name = jsName(stream);
    const key = `${consumer}\u0000${stream}`;
    if (this.#inflight.has(key)) {
      throw new InvalidArgumentError(
        `consumer ${consumer} is already consuming ${stream} in this process`,
        {
          stream,
          consumer,
          backend: BACKEND,
        },
      );
    }
    const inflight: Inflight = new Map();
    this.#inflight.set(key, inflight);
    const signal = this.#signal(options.signal);
    const iterators: ConsumerMessages[] = [];
    const stopAll = (): void => {
      for (const messages of iterators) void messages.close().catch(() => undefined);
    };
    signal.signal.addEventListener('abort', stopAll, { once: true });
    try {
      for (let p = 0; p < partitions; p++) {
        const durable = durableName(consumer, stream, p);
        await this.#prepareDurable(jsm, stream, durable, p, options.from ?? 'earliest', consumer);
        const c = await js.consumers.get(name, durable).catch((error: unknown) => {
          throw classify(error, `cannot consume ${stream}`, { stream, consumer, partition: p });
        });
        const messages = await c.consume({ max_messages: this.#batch }).catch((error: unknown) => {
          throw classify(error, `cannot consume ${stream}`, { stream, consumer, partition: p });
        });
        iterators.push(messages);
        inflight.set(p, []);
      }
      if (signal.signal.aborted) return;
      const sources = iterators.map((messages, p) =>
        this.#deliveries(stream, p, messages, inflight),
      );
      yield* mergeAsync(sources, { signal: signal.signal, stop: stopAll });
    } finally {
      signal.signal.removeEventListener('abort', stopAll);
      signal.dispose();
      stopAll();
      this.#inflight.delete(key);
    }
  }

  async *#deliveries(
    stream: string,
    partition: number,
    messages: ConsumerMessages,
    inflight: Inflight,
  ): AsyncGenerator<LogRecord> {
    for await (const msg of messages) {
      if (msg.redelivered) {
        // Redelivery after ack_wait of something already handed out: drop what is older than it
        // from the in-flight list; it is yielded again (at-least-once).
        const list = inflight.get(partition)!;
        const at = list.findIndex((m) => m.seq >= msg.seq);
        if (at >= 0) list.splice(at);
      }
      inflight.get(partition)?.push(msg);
      yield this.#toRecord(stream, msg);
    }
  }

  /**
   * Creates the durable consumer of one partition if missing. If it has unacknowledged
   * deliveries (a previous session stopped without committing them), it is recreated at its
   * ack floor so that those records come again at once and in order, not after `ack_wait`.
   */
  async #prepareDurable(
    jsm: JetStreamManager,
    stream: string,
    durable: string,
    partition: number,
    from: 'earliest' | 'latest',
    consumer: string,
  ): Promise<void> {
    const name = jsName(stream);
    let info: ConsumerInfo | undefined;
    try {
      info = await jsm.consumers.info(name, durable);
    } catch (error) {
      if (!isNotFound(error))
        throw classify(error, `cannot consume ${stream}`, { stream, consumer, partition });
    }
    if (info !== undefined) {
      const idle = info.num_ack_pending === 0 && info.num_redelivered === 0;
      const current = info.config.ack_policy === AckPolicy.Explicit;
      if (idle && current) return;
      // Another process is pulling from it: its deliveries are its own (what a dead process
      // held comes again after ack_wait), and recreating the consumer would cut it off.
      if (info.num_waiting > 0 && current) return;
    }
    let startSeq: number | undefined;
    if (info !== undefined) {
      startSeq = Math.max(info.ack_floor.stream_seq + 1, info.config.opt_start_seq ?? 1);
      await jsm.consumers.delete(name, durable).catch((error: unknown) => {
        if (!isNotFound(error))
          throw classify(error, `cannot reset ${durable}`, { stream, consumer, partition });
      });
    }
    await this.#addDurable(jsm, stream, durable, partition, startSeq, from, consumer);
  }

  async #addDurable(
    jsm: JetStreamManager,
    stream: string,
    durable: string,
    partition: number,
    startSeq: number | undefined,
    from: 'earliest' | 'latest',
    consumer: string,
  ): Promise<void> {
    const config: Partial<ConsumerConfig> = {
      durable_name: durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: (this.#init.ackWaitMs ?? DEFAULT_ACK_WAIT_MS) * 1_000_000,
      filter_subject: this.#subject(stream, partition),
      max_ack_pending: -1,
      ...(startSeq !== undefined
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq }
        : from === 'latest'
          ? { deliver_policy: DeliverPolicy.New }
          : { deliver_policy: DeliverPolicy.All }),
    };
    try {
      await jsm.consumers.add(jsName(stream), config);
    } catch (error) {
      throw classify(error, `cannot create consumer ${durable}`, { stream, consumer, partition });
    }
  }

  async commit(
    consumer: string,
    stream: string,
    positions: Positions,
    options: AbortOptions = {},
  ): Promise<void> {
    options.signal?.throwIfAborted();
    this.#check(stream);
    const work = this.#commit(consumer, stream, positions);
    this.#inFlight.add(work);
    try {
      await work;
    } finally {
      this.#inFlight.delete(work);
    }
  }

  async #commit(consumer: string, stream: string, positions: Positions): Promise<void> {
    const { partitions } = await this.#streamMeta(stream);
    const { jsm } = await this.#connect();
    const inflight = this.#inflight.get(`${consumer}\u0000${stream}`);
    for (const [key, position] of Object.entries(positions)) {
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
          consumer,
          partition,
          backend: BACKEND,
        });
      }
      const list = inflight?.get(partition);
      // The delivered message just before the position (offset = seq − 1, so seq ≤ position).
      let index = -1;
      if (list !== undefined)
        for (let i = 0; i < list.length && list[i]!.seq <= position; i++) index = i;
      if (index >= 0) {
        // Explicit acks: each delivered message is acked; the server handles one connection's
        // acks in order, so a confirmed last ack means the earlier ones are applied too.
        for (let i = 0; i < index; i++) list![i]!.ack();
        const msg = list![index]!;
        try {
          await msg.ackAck({ timeout: this.#timeout });
        } catch (error) {
          throw new CommitError(`cannot commit ${consumer} at ${position}`, true, {
            cause: error,
            stream,
            consumer,
            partition,
            backend: BACKEND,
          });
        }
        list!.splice(0, index + 1);
        continue;
      }
      const durable = durableName(consumer, stream, partition);
      const current = await this.#floor(jsm, stream, durable, partition, consumer);
      if (current === position) continue;
      if (inflight !== undefined) {
        throw new CommitError(
          `cannot move ${consumer} on partition ${partition} to ${position} while it is consuming: commit positions of records it delivered`,
          false,
          { stream, consumer, partition, backend: BACKEND },
        );
      }
      // Not consuming: (re)create the durable consumer at the position.
      await jsm.consumers.delete(jsName(stream), durable).catch((error: unknown) => {
        if (!isNotFound(error))
          throw classify(error, `cannot reset ${durable}`, { stream, consumer, partition });
      });
      await this.#addDurable(jsm, stream, durable, partition, position + 1, 'earliest', consumer);
    }
  }

  /** Committed position of one partition's durable consumer (undefined when none). */
  async #floor(
    jsm: JetStreamManager,
    stream: string,
    durable: string,
    partition: number,
    consumer: string,
  ): Promise<number | undefined> {
    try {
      const info = await jsm.consumers.info(jsName(stream), durable);
      const start = (info.config.opt_start_seq ?? 1) - 1;
      let floor = Math.max(info.ack_floor.stream_seq, start);
      // With explicit acks the server moves the floor over sequence numbers of other
      // partitions: walk back (a few steps) to this partition's last acked message, so the
      // position is exactly one past it.
      const subject = this.#subject(stream, partition);
      for (let steps = 0; floor > start && steps < 64; steps++, floor--) {
        const msg = await jsm.streams.getMessage(jsName(stream), { seq: floor }).catch(() => null);
        if (msg === null || msg.subject === subject) break;
      }
      return floor > 0 ? floor : undefined;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw classify(error, `cannot read the position of ${consumer}`, {
        stream,
        consumer,
        partition,
      });
    }
  }

  async committed(
    consumer: string,
    stream: string,
    options: AbortOptions = {},
  ): Promise<Positions> {
    options.signal?.throwIfAborted();
    this.#check(stream);
    const { partitions } = await this.#streamMeta(stream);
    const { jsm } = await this.#connect();
    const positions: Positions = {};
    for (let p = 0; p < partitions; p++) {
      const floor = await this.#floor(jsm, stream, durableName(consumer, stream, p), p, consumer);
      if (floor !== undefined) positions[p] = floor;
    }
    return positions;
  }

  async ends(stream: string, options: AbortOptions = {}): Promise<Positions> {
    options.signal?.throwIfAborted();
    this.#check(stream);
    const { partitions } = await this.#streamMeta(stream);
    const { jsm } = await this.#connect();
    const ends: Positions = {};
    // offset = sequence − 1: the next record's offset is at least the last sequence.
    for (let p = 0; p < partitions; p++)
      ends[p] = await this.#lastSeq(jsm, stream, this.#subject(stream, p));
    return ends;
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await Promise.allSettled(this.#inFlight);
      this.#closing.abort();
      const connection = this.#connection;
      if (connection === undefined || this.#init.connection !== undefined) return;
      try {
        const { nc } = await connection;
        await nc.drain();
      } catch {
        // Never connected, or already closed: nothing to drain.
      }
    })();
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function isNotFound(error: unknown): boolean {
  const name = error instanceof Error ? error.name : '';
  const text = error instanceof Error ? error.message : String(error);
  return (
    name === 'ConsumerNotFoundError' || name === 'StreamNotFoundError' || /not found/i.test(text)
  );
}

function partitionsOf(description: string | undefined, subjects: string[] | undefined): number {
  if (description?.startsWith(PARTITIONS_MARK) === true) {
    const n = Number(description.slice(PARTITIONS_MARK.length));
    if (Number.isSafeInteger(n) && n > 0) return n;
  }
  return Math.max(1, subjects?.length ?? 1);
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
