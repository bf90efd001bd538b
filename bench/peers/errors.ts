// Errors of the benchmark peers.

/** The peer cannot be installed or started here: the benchmark skips it with this message. */
export class PeerUnavailableError extends Error {
  override name = 'PeerUnavailableError';
}
