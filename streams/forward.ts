/**
 * A {@link Log} that forwards every call to another, except those it replaces: the base of a
 * decorator (`processors/blocks`) and of tests that make a backend fail, stall or wait.
 *
 * @module
 */
import type { Log } from './log.ts';

/** `log` with the calls in `overrides` replaced; closing the result closes `log`. */
export function forwardLog(log: Log, overrides: Partial<Log>): Log {
  return {
    ensureStreams: (...a) => log.ensureStreams(...a),
    partitions: (...a) => log.partitions(...a),
    append: (...a) => log.append(...a),
    read: (...a) => log.read(...a),
    consume: (...a) => log.consume(...a),
    commit: (...a) => log.commit(...a),
    committed: (...a) => log.committed(...a),
    ends: (...a) => log.ends(...a),
    ...(log.commitStats === undefined ? {} : { commitStats: () => log.commitStats!() }),
    close: () => log.close(),
    [Symbol.asyncDispose]: () => log.close(),
    ...overrides,
  };
}
