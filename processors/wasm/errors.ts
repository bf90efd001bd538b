// Errors of the Wasm executor. Terminal failures of a task are returned as error *results*
// (see ExecuteFailure); these classes carry them, and the retryable ones are thrown.

/** The kinds of terminal failure a task can have. */
export type WasmFailureKind =
  | 'trap'
  | 'fuel'
  | 'memory'
  | 'time'
  | 'mapping'
  | 'unknown-import'
  | 'missing-export'
  | 'invalid-module';

/** A deterministic (terminal) failure of one task: becomes an error receipt, never retried. */
export class WasmTaskError extends Error {
  override name = 'WasmTaskError';
  /** Which limit or rule failed. */
  readonly kind: WasmFailureKind;
  /** Module CID, when known. */
  readonly cid: string | undefined;
  /** Where in the arguments or result a mapping failed (`args[1].x`). */
  readonly path: string | undefined;
  readonly retryable = false;
  constructor(
    kind: WasmFailureKind,
    message: string,
    options: { cause?: unknown; cid?: string; path?: string } = {},
  ) {
    super(message, { cause: options.cause });
    this.kind = kind;
    this.cid = options.cid;
    this.path = options.path;
  }
}

/** An IPLD value does not fit the WIT type at `path` (or a result does not fit IPLD). */
export class ValueMappingError extends WasmTaskError {
  override name = 'ValueMappingError';
  constructor(path: string, message: string) {
    super('mapping', `${path}: ${message}`, { path });
  }
}

/** A worker died or was lost while running a task (not because of a limit). Retryable. */
export class WorkerLostError extends Error {
  override name = 'WorkerLostError';
  readonly retryable = true;
  /** Module CID of the task that was running. */
  readonly cid: string;
  constructor(cid: string, options: { cause?: unknown } = {}) {
    super(`worker lost while running ${cid}`, { cause: options.cause });
    this.cid = cid;
  }
}

/** The executor was closed. Retryable (another node or a restart can run the task). */
export class ExecutorClosedError extends Error {
  override name = 'ExecutorClosedError';
  readonly retryable = true;
  constructor() {
    super('executor is closed');
  }
}

/**
 * A task waited longer than the queue timeout for a free worker. Retryable: it never ran, so
 * nothing about the task is known (its receipt is not memoized).
 */
export class QueueTimeoutError extends Error {
  override name = 'QueueTimeoutError';
  readonly retryable = true;
  /** The queue timeout that expired. */
  readonly timeoutMs: number;
  constructor(timeoutMs: number, waitedMs: number) {
    super(
      `no free worker within the queue timeout of ${timeoutMs} ms (waited ${Math.round(waitedMs)} ms); the task did not run`,
    );
    this.timeoutMs = timeoutMs;
  }
}
