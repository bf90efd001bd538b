// Errors of the table store and the table indexer. Each is terminal (bad input or SQL: retrying
// cannot help) or retryable (engine or server unavailable: the retry module may try again).

/** Base class: every table-store failure carries whether a retry can help. */
export class TableStoreError extends Error {
  override name = 'TableStoreError';
  /** True when the same call may succeed later (server down, connection reset). */
  readonly retryable: boolean;
  /** Which adapter failed (`chdb` or `server`). */
  readonly adapter: string;
  /** The statement (cut to 300 characters) that failed, when there was one. */
  readonly sql: string | undefined;

  constructor(
    message: string,
    init: { adapter: string; retryable: boolean; sql?: string; cause?: unknown },
  ) {
    super(message, { cause: init.cause });
    this.adapter = init.adapter;
    this.retryable = init.retryable;
    this.sql = init.sql === undefined ? undefined : init.sql.slice(0, 300);
  }
}

/** The engine rejected a statement (syntax, unknown table, type mismatch). Terminal. */
export class TableQueryError extends TableStoreError {
  override name = 'TableQueryError';
  /** ClickHouse's numeric error code, when it reported one. */
  readonly code: number | undefined;

  constructor(
    message: string,
    init: { adapter: string; sql?: string; code?: number; cause?: unknown },
  ) {
    super(message, { ...init, retryable: false });
    this.code = init.code;
  }
}

/** The server could not be reached or dropped the connection. Retryable. */
export class TableStoreUnavailableError extends TableStoreError {
  override name = 'TableStoreUnavailableError';
  /** The server URL (without credentials). */
  readonly url: string;

  constructor(message: string, init: { url: string; sql?: string; cause?: unknown }) {
    super(message, { adapter: 'server', retryable: true, ...init });
    this.url = init.url;
  }
}

/** A call on a store after `close()`. Terminal. */
export class TableStoreClosedError extends TableStoreError {
  override name = 'TableStoreClosedError';
  constructor(adapter: string) {
    super('table store is closed', { adapter, retryable: false });
  }
}

/** A value passed as a CID is not one. Terminal. */
export class InvalidCidError extends TableStoreError {
  override name = 'InvalidCidError';
  /** The offending value (cut to 100 characters). */
  readonly value: string;
  /** Where it was found, e.g. `instructionCids[3]`. */
  readonly field: string;

  constructor(value: string, field: string, adapter: string) {
    super(`not a CID at ${field}: ${JSON.stringify(value.slice(0, 100))}`, {
      adapter,
      retryable: false,
    });
    this.value = value.slice(0, 100);
    this.field = field;
  }
}

/** Bad construction options (missing data dir, bad URL, bad batch size). Terminal. */
export class TableStoreConfigError extends TableStoreError {
  override name = 'TableStoreConfigError';
  /** The option at fault. */
  readonly option: string;

  constructor(message: string, option: string, adapter: string) {
    super(message, { adapter, retryable: false });
    this.option = option;
  }
}

/** An event could not be turned into rows (missing field, wrong type). Terminal: skipped. */
export class RowMappingError extends Error {
  override name = 'RowMappingError';
  /** Dotted path of the offending field, e.g. `run.input.func`. */
  readonly field: string;
  /** Instruction or workflow CID of the event, when it could be read. */
  readonly cid: string | undefined;
  readonly retryable = false;

  constructor(message: string, init: { field: string; cid?: string; cause?: unknown }) {
    super(message, { cause: init.cause });
    this.field = init.field;
    this.cid = init.cid;
  }
}

/** The indexer failed to write a batch; its offsets were not committed. */
export class IndexerError extends Error {
  override name = 'IndexerError';
  /** Streams and the last offset of each in the failed batch. */
  readonly offsets: Readonly<Record<string, string>>;
  /** Whether the underlying failure was retryable. */
  readonly retryable: boolean;

  constructor(
    message: string,
    init: { offsets: Record<string, string>; retryable: boolean; cause?: unknown },
  ) {
    super(message, { cause: init.cause });
    this.offsets = init.offsets;
    this.retryable = init.retryable;
  }
}
