// A Log that forwards to another, with some calls replaced: for tests that make a backend fail,
// stall or wait at one point.
import type { Log } from '../../streams/log.ts';

/** `log` with the calls in `overrides` replaced (closing the wrapper closes `log`). */
export function logWith(log: Log, overrides: Partial<Log>): Log {
  return {
    ensureStreams: (...a) => log.ensureStreams(...a),
    partitions: (...a) => log.partitions(...a),
    append: (...a) => log.append(...a),
    read: (...a) => log.read(...a),
    consume: (...a) => log.consume(...a),
    commit: (...a) => log.commit(...a),
    committed: (...a) => log.committed(...a),
    ends: (...a) => log.ends(...a),
    close: () => log.close(),
    [Symbol.asyncDispose]: () => log.close(),
    ...overrides,
  };
}
