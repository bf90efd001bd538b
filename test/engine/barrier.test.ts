// The wait for work in flight that a workflow's end is written behind (core.ts): it waits for
// everything tracked before it, in any order of settling, and for nothing tracked after it.
import { describe, expect, it } from 'vitest';
import { createBarrier } from '../../processors/engine/barrier.ts';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets every pending reaction run. */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('barrier', () => {
  it('resolves at once with nothing in flight', async () => {
    const barrier = createBarrier();
    let done = false;
    void barrier.wait().then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(true);
    expect(barrier.size).toBe(0);
  });

  it('waits for all work tracked before it, settled in any order, and not for later work', async () => {
    const barrier = createBarrier();
    const [a, b, c] = [deferred(), deferred(), deferred()];
    barrier.track(a.promise);
    barrier.track(b.promise);
    let first = false;
    void barrier.wait().then(() => (first = true));
    barrier.track(c.promise); // after the first wait: it does not hold it up
    let second = false;
    void barrier.wait().then(() => (second = true));
    expect(barrier.size).toBe(3);

    b.resolve(); // out of order
    await settle();
    expect([first, second, barrier.size]).toEqual([false, false, 2]);
    a.resolve();
    await settle();
    expect([first, second, barrier.size]).toEqual([true, false, 1]);
    c.resolve();
    await settle();
    expect([first, second, barrier.size]).toEqual([true, true, 0]);
  });

  it('keeps up with many waits over many in flight (seeded order of settling)', async () => {
    const seed = 0x5eed;
    console.log(`barrier: seed ${seed}`);
    let state = seed;
    const random = (n: number): number => {
      state = (state * 1103515245 + 12345) % 2 ** 31;
      return state % n;
    };
    const barrier = createBarrier();
    const work: Array<ReturnType<typeof deferred>> = [];
    const waits: Array<{ upTo: number; done: boolean }> = [];
    for (let i = 0; i < 500; i++) {
      const d = deferred();
      work.push(d);
      barrier.track(d.promise);
      if (random(3) === 0) {
        const w = { upTo: work.length, done: false };
        waits.push(w);
        void barrier.wait().then(() => (w.done = true));
      }
    }
    const settled = new Set<number>();
    const order = work.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = random(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const i of order) {
      work[i]!.resolve();
      settled.add(i);
      await settle();
      for (const w of waits) {
        let all = true;
        for (let k = 0; k < w.upTo && all; k++) all = settled.has(k);
        expect(w.done, `wait over the first ${w.upTo} after ${settled.size} settled`).toBe(all);
      }
    }
    expect(barrier.size).toBe(0);
  });
});
