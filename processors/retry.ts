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
