// Errors of the cluster area.

/** Membership could not heartbeat or follow the `nodes` stream. Retryable (the broker may come back). */
export class ClusterError extends Error {
  override name = 'ClusterError';
  readonly retryable = true;
}

/** A record on the `nodes` stream that is not a node announcement. Terminal: it is dead-lettered. */
export class AnnouncementError extends Error {
  override name = 'AnnouncementError';
  readonly retryable = false;
  /** Which field is wrong (`id`, `at`, …), or `value` when the record is not JSON. */
  readonly field: string;
  constructor(field: string, reason: string, options?: ErrorOptions) {
    super(`${field}: ${reason}`, options);
    this.field = field;
  }
}
