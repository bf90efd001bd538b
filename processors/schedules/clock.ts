/**
 * Time as the firer sees it: a clock and a one-shot timer, injected so tests drive ticks
 * without waiting for minute boundaries.
 *
 * @module
 */

/** A one-shot timer. */
export interface Timer {
  /** Calls `fn` once, `ms` from now; returns a handle for {@link Timer.clear}. */
  set: (fn: () => void, ms: number) => unknown;
  clear: (handle: unknown) => void;
}

/** The process's timers. */
export const systemTimer: Timer = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** A clock and timer moved by hand: `advance(ms)` runs every timer due, in time order. */
export interface ManualTime {
  now: () => number;
  timer: Timer;
  /** Moves the clock forward, firing due timers at their own times; awaits `settle` after each. */
  advance: (ms: number, settle?: () => Promise<void>) => Promise<void>;
  /** Moves the clock without firing anything (a node that was down). */
  jump: (ms: number) => void;
}

/** A manual clock starting at `startMs`. */
export function createManualTime(startMs: number): ManualTime {
  let now = startMs;
  let seq = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    timer: {
      set(fn, ms) {
        const id = ++seq;
        timers.set(id, { at: now + Math.max(0, ms), fn });
        return id;
      },
      clear: (handle) => void timers.delete(handle as number),
    },
    async advance(ms, settle = () => new Promise((r) => setImmediate(r))) {
      const until = now + ms;
      for (;;) {
        let first: [number, { at: number; fn: () => void }] | undefined;
        for (const e of timers)
          if (e[1].at <= until && (first === undefined || e[1].at < first[1].at)) first = e;
        if (first === undefined) break;
        timers.delete(first[0]);
        now = Math.max(now, first[1].at);
        first[1].fn();
        await settle();
      }
      now = until;
    },
    jump(ms) {
      now += ms;
    },
  };
}
