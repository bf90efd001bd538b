/**
 * Appends verification mismatches to the `verification` stream (key: the instruction CID), so
 * analysts and the tables see them. Appends are not awaited by the caller: `drain()` waits for
 * them; a failed append goes to `onError` (the mismatch is also in the task's error receipt).
 *
 * @module
 */
import type { VerificationMismatchEvent } from '../../schemas/job-events.ts';
import type { Log } from '../../streams/log.ts';
import { eventRecord } from '../engine/envelope.ts';

/** A sink for mismatches. */
export interface MismatchRecorder {
  record: (event: VerificationMismatchEvent) => void;
  /** Resolves when every mismatch recorded so far is appended. */
  drain(): Promise<void>;
}

/** A recorder appending to `stream` (the full name of the `verification` stream). */
export function mismatchRecorder(
  log: Log,
  stream: string,
  onError: (error: unknown) => void = () => undefined,
): MismatchRecorder {
  const pending = new Set<Promise<void>>();
  return {
    record(event) {
      const key = event.instruction?.toString() ?? `${event.rsc}#${event.func}`;
      const p = log
        .append(stream, [eventRecord(key, event)])
        .then(() => undefined, onError)
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    async drain() {
      while (pending.size > 0) await Promise.all(pending);
    },
  };
}
