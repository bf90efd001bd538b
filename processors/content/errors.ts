// Errors of the content store. Each is classified: retryable (the content may appear later or
// the store may come back) or terminal (the request itself is wrong).
import type { CID } from 'multiformats/cid';

/** Base class: every content-store error says whether retrying can help. */
export class ContentError extends Error {
  override name = 'ContentError';
  /** `true` when the same call may succeed later (content not yet fetched, store busy). */
  readonly retryable: boolean;
  constructor(message: string, options: { cause?: unknown; retryable: boolean }) {
    super(message, { cause: options.cause });
    this.retryable = options.retryable;
  }
}

/** The blocks of a CID are not in the local store. Retryable: they may be imported later. */
export class ContentNotFoundError extends ContentError {
  override name = 'ContentNotFoundError';
  /** The CID that was asked for. */
  readonly cid: string;
  constructor(cid: CID | string, options: { cause?: unknown; detail?: string } = {}) {
    const detail = options.detail === undefined ? '' : ` (${options.detail})`;
    super(`content not found: ${String(cid)}${detail}`, { cause: options.cause, retryable: true });
    this.cid = String(cid);
  }
}

/** A resource string is neither `ipfs://<cid>` nor a bare CID. Terminal. */
export class InvalidResourceError extends ContentError {
  override name = 'InvalidResourceError';
  /** The resource string as given. */
  readonly rsc: string;
  constructor(rsc: string, options: { cause?: unknown } = {}) {
    super(`invalid resource ${JSON.stringify(rsc)}: expected ipfs://<cid> or a CID`, {
      cause: options.cause,
      retryable: false,
    });
    this.rsc = rsc;
  }
}

/** A CAR file could not be read or written. Terminal for malformed input. */
export class CarError extends ContentError {
  override name = 'CarError';
  constructor(message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, { cause: options.cause, retryable: options.retryable ?? false });
  }
}

/** `true` when `err` is a content-store error that may succeed on retry. */
export function isRetryableContentError(err: unknown): boolean {
  return err instanceof ContentError && err.retryable;
}
