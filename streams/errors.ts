/**
 * Errors of the streams layer. Each is named, carries its `cause` and the context that
 * identifies the failure, and is classified: `retryable` errors (a broker or disk that may come
 * back) are retried with backoff by the caller's retry module; terminal ones are not.
 *
 * @module
 */

/** Identifying context of a streams error; every field is optional. */
export interface StreamsErrorContext {
  /** Stream (topic) concerned. */
  stream?: string;
  /** Partition concerned. */
  partition?: number;
  /** Offset concerned. */
  offset?: number;
  /** Consumer concerned. */
  consumer?: string;
  /** Which backend raised it: `'file'`, `'kafka'`, `'jetstream'`. */
  backend?: string;
}

/** Options shared by every streams error constructor. */
export interface StreamsErrorOptions extends StreamsErrorContext {
  /** The underlying error. */
  cause?: unknown;
}

/** Base class of every streams error. */
export class StreamsError extends Error {
  /** True when retrying the same call later may succeed. */
  readonly retryable: boolean;
  /** Stream concerned, when known. */
  readonly stream: string | undefined;
  /** Partition concerned, when known. */
  readonly partition: number | undefined;
  /** Offset concerned, when known. */
  readonly offset: number | undefined;
  /** Consumer concerned, when known. */
  readonly consumer: string | undefined;
  /** Backend that raised it, when known. */
  readonly backend: string | undefined;

  constructor(message: string, retryable: boolean, options: StreamsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StreamsError';
    this.retryable = retryable;
    this.stream = options.stream;
    this.partition = options.partition;
    this.offset = options.offset;
    this.consumer = options.consumer;
    this.backend = options.backend;
  }
}

/** The broker or server cannot be reached or timed out. Retryable. */
export class BrokerUnavailableError extends StreamsError {
  constructor(message: string, options: StreamsErrorOptions = {}) {
    super(message, true, options);
    this.name = 'BrokerUnavailableError';
  }
}

/** A transient I/O failure of the local disk (e.g. `EAGAIN`, `ENOSPC`). Retryable. */
export class StorageUnavailableError extends StreamsError {
  constructor(message: string, options: StreamsErrorOptions = {}) {
    super(message, true, options);
    this.name = 'StorageUnavailableError';
  }
}

/** The stream does not exist. Terminal (create it with `ensureStreams`). */
export class StreamNotFoundError extends StreamsError {
  constructor(stream: string, options: StreamsErrorOptions = {}) {
    super(`stream ${JSON.stringify(stream)} does not exist`, false, { ...options, stream });
    this.name = 'StreamNotFoundError';
  }
}

/** A stream exists with a different configuration than asked for. Terminal. */
export class StreamConfigError extends StreamsError {
  constructor(message: string, options: StreamsErrorOptions = {}) {
    super(message, false, options);
    this.name = 'StreamConfigError';
  }
}

/** A caller passed something invalid (a bad partition, name or offset). Terminal. */
export class InvalidArgumentError extends StreamsError {
  constructor(message: string, options: StreamsErrorOptions = {}) {
    super(message, false, options);
    this.name = 'InvalidArgumentError';
  }
}

/** A call was made after `close()`. Terminal. */
export class LogClosedError extends StreamsError {
  constructor(options: StreamsErrorOptions = {}) {
    super('the log is closed', false, options);
    this.name = 'LogClosedError';
  }
}

/** Another process holds the file log's writer lock. Terminal. */
export class LogLockedError extends StreamsError {
  /** Directory of the log. */
  readonly dir: string;
  /** Process id recorded in the lock, when readable. */
  readonly ownerPid: number | undefined;

  constructor(dir: string, ownerPid: number | undefined, options: StreamsErrorOptions = {}) {
    super(
      `the log in ${dir} is open for writing by another process` +
        (ownerPid === undefined ? '' : ` (pid ${ownerPid})`) +
        '; open it with readOnly: true to read concurrently',
      false,
      options,
    );
    this.name = 'LogLockedError';
    this.dir = dir;
    this.ownerPid = ownerPid;
  }
}

/** An append or commit on a log opened read-only. Terminal. */
export class ReadOnlyLogError extends StreamsError {
  constructor(options: StreamsErrorOptions = {}) {
    super('the log is open read-only', false, options);
    this.name = 'ReadOnlyLogError';
  }
}

/**
 * A stored record failed its integrity check (checksum or framing) before the durable end of
 * the log. Terminal: the data is damaged and the record is never returned.
 */
export class CorruptRecordError extends StreamsError {
  /** Segment file (relative to the log directory) holding the bad record. */
  readonly segment: string;
  /** Byte position of the bad record inside the segment. */
  readonly position: number;

  constructor(
    message: string,
    options: StreamsErrorOptions & { segment: string; position: number },
  ) {
    super(
      `${message} in segment ${options.segment} at byte ${options.position}` +
        (options.offset === undefined ? '' : ` (offset ${options.offset})`),
      false,
      options,
    );
    this.name = 'CorruptRecordError';
    this.segment = options.segment;
    this.position = options.position;
  }
}

/** A commit could not be applied (e.g. rejected by the group coordinator). Terminal unless a cause says otherwise. */
export class CommitError extends StreamsError {
  constructor(message: string, retryable: boolean, options: StreamsErrorOptions = {}) {
    super(message, retryable, options);
    this.name = 'CommitError';
  }
}

/** Any other backend failure, classified by the adapter that raised it. */
export class BackendError extends StreamsError {
  constructor(message: string, retryable: boolean, options: StreamsErrorOptions = {}) {
    super(message, retryable, options);
    this.name = 'BackendError';
  }
}

/** A record's payload could not be decoded (see `streams/dead-letter.ts`). Terminal. */
export class DecodeError extends StreamsError {
  constructor(message: string, options: StreamsErrorOptions = {}) {
    super(message, false, options);
    this.name = 'DecodeError';
  }
}

/** True when `error` is a streams error marked retryable. */
export function isRetryable(error: unknown): boolean {
  return error instanceof StreamsError && error.retryable;
}
