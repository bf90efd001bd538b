// Errors of the cluster area.

/** Membership could not heartbeat or follow the `nodes` stream. Retryable (the broker may come back). */
export class ClusterError extends Error {
  override name = 'ClusterError';
  readonly retryable = true;
}
