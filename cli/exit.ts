// The exit codes of every command, and the error that carries one.

/** Exit codes. */
export const EXIT = {
  /** Done; the workflow completed. */
  ok: 0,
  /** The workflow failed, or the input (workflow, CID, file) is bad. */
  failed: 1,
  /** Wrong usage: unknown flag, missing argument, bad flag value or config file. */
  usage: 2,
  /** Infrastructure trouble (broker unreachable, log locked by another writer): retry later. */
  retryable: 3,
  /** The reader of standard output went away (`ipvm watch | head`): 128 + SIGPIPE, as a shell reports it. */
  brokenPipe: 141,
} as const;

/** A bad flag value or combination (exit 2). */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly usage = true;
  readonly retryable = false;
}
