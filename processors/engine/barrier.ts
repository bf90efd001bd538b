// Waiting for "everything started so far": what a workflow's end and an effect's release wait
// for before they are written (core.ts: receipts folded before their append was durable).
import { Fifo } from './operators.ts';

/**
 * Tracks work in flight (promises that never reject) and hands out waits for all of it that
 * was started before the wait was asked for; work started later does not hold the wait up.
 *
 * Each wait costs O(1), however much is in flight: the work gets a sequence number, and a wait
 * resolves once every number below the one current when it was asked for has settled.
 * (`Promise.all` over the set in flight was O(n) per wait: with 64 workflows in flight, 5 KB of
 * reactions per workflow's end.)
 */
export interface Barrier {
  /** How many tracked promises have not settled. */
  readonly size: number;
  /** Tracks `work`, which must not reject (a rejection would hold every later wait forever). */
  track(work: Promise<void>): void;
  /** Resolves when every promise tracked before this call has settled. */
  wait(): Promise<void>;
}

export function createBarrier(): Barrier {
  let issued = 0; // sequence numbers handed out
  let settledBelow = 0; // every number below it has settled
  const settledAhead = new Set<number>(); // settled out of order, ≥ settledBelow
  const waiters = new Fifo<{ upTo: number; resolve: () => void }>(); // upTo never decreases

  const settle = (seq: number): void => {
    if (seq !== settledBelow) {
      settledAhead.add(seq);
      return;
    }
    settledBelow++;
    while (settledAhead.delete(settledBelow)) settledBelow++;
    for (let w = waiters.peek(); w !== undefined && w.upTo <= settledBelow; w = waiters.peek()) {
      waiters.take();
      w.resolve();
    }
  };

  return {
    get size() {
      return issued - settledBelow - settledAhead.size;
    },
    track(work) {
      const seq = issued++;
      void work.then(() => settle(seq));
    },
    wait() {
      if (settledBelow === issued) return Promise.resolve();
      const upTo = issued;
      return new Promise<void>((resolve) => waiters.push({ upTo, resolve }));
    },
  };
}
