/**
 * Errors of effects. Each names the task (instruction CID), the URL and why, and says whether
 * retrying may help (`retryable`), so the one retry module (`processors/retry.ts`) decides.
 *
 * @module
 */

/** What went wrong with an effect. */
export type EffectFailureKind =
  | 'refused' // not on the allow-list, or a private address not named explicitly
  | 'bad-input' // the instruction's input is not what the op takes
  | 'connection' // could not connect, reset, DNS failure
  | 'timeout' // meta.time (or the client's connect/headers/body timeouts) ran out
  | 'too-large' // the response body is larger than the cap
  | 'redirect' // too many redirects, or one without a usable Location
  | 'http' // a status that is not 2xx (after redirects)
  | 'decode'; // the body is not what `response` asked for (e.g. not JSON)

/** Where an effect failed. */
export interface EffectErrorContext {
  /** Instruction CID of the task. */
  instruction: string;
  /** The URL being fetched when it failed (the last hop of a redirect chain). */
  url: string;
  kind: EffectFailureKind;
  retryable?: boolean;
  /** A delay the server asked for (429/503 `Retry-After`), in ms. */
  retryAfterMs?: number;
  /** The HTTP status, for `http` failures. */
  status?: number;
  cause?: unknown;
}

/** An effect that failed, located: `task bafy…: POST http://h/x: 503 Service Unavailable`. */
export class EffectError extends Error {
  override name = 'EffectError';
  readonly instruction: string;
  readonly url: string;
  readonly kind: EffectFailureKind;
  /** True for failures worth retrying with backoff (connection errors, 5xx, 429, timeouts). */
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;
  constructor(method: string, why: string, context: EffectErrorContext) {
    super(`task ${context.instruction}: ${method} ${context.url}: ${why}`, {
      cause: context.cause,
    });
    this.instruction = context.instruction;
    this.url = context.url;
    this.kind = context.kind;
    this.retryable = context.retryable ?? false;
    this.retryAfterMs = context.retryAfterMs;
    this.status = context.status;
  }
}
