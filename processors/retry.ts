/**
 * The one retry module: exponential backoff with full jitter for errors marked retryable
 * (`err.retryable === true`); anything else is thrown at once.
 *
 * @module
 */

/** Options of {@link withRetry}. */
export interface RetryOptions {
  /** @default 5 */
  attempts?: number;
  /** First backoff ceiling. @default 20 */
  baseDelayMs?: number;
  /** Largest backoff ceiling. @default 2_000 */
  maxDelayMs?: number;
  signal?: AbortSignal;
  /** Called before each new attempt. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** True for errors that say retrying may help. */
export function isRetryable(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { retryable?: unknown }).retryable === true
  );
}

/** Runs `fn` until it succeeds, fails terminally, or the attempts are used up. */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 5;
  const base = options.baseDelayMs ?? 20;
  const max = options.maxDelayMs ?? 2_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!isRetryable(err) || attempt >= attempts || options.signal?.aborted === true) throw err;
      // A delay the failure asks for (an HTTP `Retry-After`) raises the backoff, up to `max`.
      const asked = (err as { retryAfterMs?: unknown }).retryAfterMs;
      const delay = Math.max(
        Math.random() * Math.min(max, base * 2 ** (attempt - 1)),
        typeof asked === 'number' ? Math.min(max, asked) : 0,
      );
      options.onRetry?.(err, attempt, delay);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, delay);
        options.signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(timer);
            reject(options.signal!.reason as Error);
          },
          { once: true },
        );
      });
    }
  }
}

/**
 * How a task's retryable failures (content not there yet, a lost worker, a full queue) are
 * retried before its receipt says `retryable: true`. Read from the task's `meta.retry`
 * (`{attempts, backoff}`), falling back to the node's defaults.
 */
export interface TaskRetryPolicy {
  /** Tries in all, the first included (1: never retried). @default 3 */
  attempts: number;
  /** First backoff ceiling in ms; it doubles per attempt (full jitter). @default 100 */
  backoffMs: number;
  /** Largest backoff ceiling in ms. @default 5_000 */
  maxBackoffMs: number;
}

/** @see TaskRetryPolicy */
export const DEFAULT_TASK_RETRY: TaskRetryPolicy = {
  attempts: 3,
  backoffMs: 100,
  maxBackoffMs: 5_000,
};

/** Bounds of `meta.retry`: a task cannot ask for more than this. */
export const MAX_TASK_ATTEMPTS = 20;
export const MAX_TASK_BACKOFF_MS = 60_000;

/** A task's `meta.retry` that is not `{attempts?: 1…20, backoff?: 0…60000}` (terminal). */
export class RetryPolicyError extends Error {
  override name = 'RetryPolicyError';
  readonly retryable = false;
  /** Field path, e.g. `tasks[2].meta.retry.attempts`. */
  readonly path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

/**
 * The retry policy of a task from its `meta` (`meta.retry.attempts`, `meta.retry.backoff` in
 * ms), over `defaults`.
 * @throws {RetryPolicyError} naming the field when `meta.retry` is malformed
 */
export function readRetryPolicy(
  meta: unknown,
  defaults: TaskRetryPolicy = DEFAULT_TASK_RETRY,
  path = 'meta',
): TaskRetryPolicy {
  const retry = isPlainMap(meta) ? meta.retry : undefined;
  if (retry === undefined || retry === null) return defaults;
  const at = `${path}.retry`;
  if (!isPlainMap(retry)) throw new RetryPolicyError(at, 'expected {attempts, backoff}');
  const policy = { ...defaults };
  if (retry.attempts !== undefined) {
    const n = retry.attempts;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_TASK_ATTEMPTS)
      throw new RetryPolicyError(
        `${at}.attempts`,
        `expected an integer from 1 to ${MAX_TASK_ATTEMPTS}, got ${describe(n)}`,
      );
    policy.attempts = n;
  }
  if (retry.backoff !== undefined) {
    const ms = retry.backoff;
    if (typeof ms !== 'number' || !(ms >= 0 && ms <= MAX_TASK_BACKOFF_MS))
      throw new RetryPolicyError(
        `${at}.backoff`,
        `expected milliseconds from 0 to ${MAX_TASK_BACKOFF_MS}, got ${describe(ms)}`,
      );
    policy.backoffMs = ms;
    policy.maxBackoffMs = Math.max(policy.maxBackoffMs, ms);
  }
  return policy;
}

function isPlainMap(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !(value instanceof Uint8Array) &&
    (value as { asCID?: unknown }).asCID === undefined
  );
}

function describe(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  return value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value;
}
