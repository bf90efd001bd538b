// Errors of verification. A malformed `meta.verification` is bad input: terminal.

/** A task's `meta.verification` that cannot be honoured; names the field. Terminal. */
export class VerificationConfigError extends Error {
  override name = 'VerificationConfigError';
  readonly retryable = false;
  /** The field at fault, e.g. `meta.verification.optimistic.confirmations`. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}
