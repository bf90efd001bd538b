// The executor's bounded async map and the queue under it: order, the bound on calls in flight,
// completion, errors, unsubscribing. The router that hands a workflow's receipts and end to its
// observers only. (The echo, which uses the same queue, has test/engine/echo.test.ts.)
import { describe, expect, it } from 'vitest';
import { Subject, firstValueFrom, from, lastValueFrom, toArray } from 'rxjs';
import { Fifo, mapBounded, routeByKey } from '../../processors/engine/operators.ts';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Fifo', () => {
  it('takes in insertion order across compactions', () => {
    const q = new Fifo<number>();
    const out: number[] = [];
    // Interleave pushes and takes so the head passes the compaction threshold many times.
    for (let i = 0; i < 10_000; i++) {
      q.push(i);
      if (i % 3 !== 0) out.push(q.take()!);
    }
    while (q.length > 0) out.push(q.take()!);
    expect(out).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    expect(q.take()).toBeUndefined();
    expect(q.length).toBe(0);
  });
});

describe('mapBounded', () => {
  it('never has more than `concurrency` calls unsettled, and maps every value once', async () => {
    let active = 0;
    let most = 0;
    const seen: number[] = [];
    const out = await lastValueFrom(
      from(Array.from({ length: 500 }, (_, i) => i)).pipe(
        mapBounded(async (v) => {
          active++;
          most = Math.max(most, active);
          seen.push(v);
          await tick();
          active--;
          return v * 2;
        }, 7),
        toArray(),
      ),
    );
    expect(most).toBe(7);
    // Values start in arrival order (the queue is FIFO).
    expect(seen).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(out.sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i * 2));
  });

  it('skips values for which the function returns null, and still completes', async () => {
    const out = await lastValueFrom(
      from([1, 2, 3, 4]).pipe(
        mapBounded((v) => (v % 2 === 0 ? null : Promise.resolve(v)), 1),
        toArray(),
      ),
    );
    expect(out).toEqual([1, 3]);
  });

  it('completes only when the source has and every call has settled', async () => {
    const source = new Subject<number>();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let completed = false;
    const values: number[] = [];
    source.pipe(mapBounded((v) => gate.then(() => v), 2)).subscribe({
      next: (v) => values.push(v),
      complete: () => (completed = true),
    });
    source.next(1);
    source.next(2);
    source.next(3);
    source.complete();
    await tick();
    expect(completed).toBe(false);
    release();
    await tick();
    await tick();
    expect(values.sort()).toEqual([1, 2, 3]);
    expect(completed).toBe(true);
  });

  it('errors the output when a call rejects, and starts nothing after', async () => {
    const started: number[] = [];
    const result = lastValueFrom(
      from([1, 2, 3, 4]).pipe(
        mapBounded(async (v) => {
          started.push(v);
          if (v === 1) throw new Error('boom at 1');
          await tick();
          return v;
        }, 1),
      ),
    );
    await expect(result).rejects.toThrow('boom at 1');
    expect(started).toEqual([1]);
  });

  it('stops taking values once unsubscribed', async () => {
    // A fresh time slice, so the first value starts at once: a slice used up by what ran before
    // (the tests before this one, in a busy process) defers it to the next turn.
    await tick();
    const source = new Subject<number>();
    const started: number[] = [];
    const sub = source
      .pipe(
        mapBounded((v) => {
          started.push(v);
          return new Promise<number>(() => undefined);
        }, 1),
      )
      .subscribe();
    source.next(1);
    source.next(2);
    sub.unsubscribe();
    source.next(3);
    await tick();
    expect(started).toEqual([1]);
    expect(source.observed).toBe(false);
  });

  it('refuses a concurrency below 1', () => {
    expect(() => mapBounded(() => null, 0)).toThrow(RangeError);
  });

  it('gives the first result before the source has ended', async () => {
    const source = new Subject<number>();
    const first = firstValueFrom(source.pipe(mapBounded((v) => Promise.resolve(v + 1), 4)));
    source.next(41);
    expect(await first).toBe(42);
  });
});

describe('routeByKey', () => {
  const keyed = (k: string, n: number) => ({ k, n });
  type V = ReturnType<typeof keyed>;

  it('hands each value to the observers of its key only, and forgets those that leave', () => {
    const source = new Subject<V | { k: undefined; n: number }>();
    const router = routeByKey(source, (v) => v.k);
    const a: number[] = [];
    const a2: number[] = [];
    const b: number[] = [];
    const subA = router.observe('a').subscribe((v) => a.push(v.n));
    const subA2 = router.observe('a').subscribe((v) => a2.push(v.n));
    router.observe('b').subscribe((v) => b.push(v.n));
    expect(router.keys).toBe(2);
    source.next(keyed('a', 1));
    source.next(keyed('b', 2));
    source.next(keyed('c', 3)); // nobody's
    source.next({ k: undefined, n: 4 }); // no key: nobody's
    subA.unsubscribe();
    source.next(keyed('a', 5));
    expect([a, a2, b]).toEqual([[1], [1, 5], [2]]);
    subA2.unsubscribe();
    expect(router.keys).toBe(1); // 'a' has no observer left: its entry is gone
  });

  it('lets an observer leave from inside its next, and leave another of its key', () => {
    const source = new Subject<V>();
    const router = routeByKey(source, (v) => v.k);
    const seen: string[] = [];
    const second = { sub: undefined as { unsubscribe(): void } | undefined };
    const first = router.observe('w').subscribe((v) => {
      seen.push(`first ${v.n}`);
      first.unsubscribe();
      second.sub?.unsubscribe();
    });
    second.sub = router.observe('w').subscribe((v) => seen.push(`second ${v.n}`));
    source.next(keyed('w', 1));
    source.next(keyed('w', 2));
    // the second was left before the value reached it, and gets nothing
    expect(seen).toEqual(['first 1']);
    expect(router.keys).toBe(0);
  });

  it('completes (or errors) every observer with the source, and any that comes later', async () => {
    const done = new Subject<V>();
    const router = routeByKey(done, (v) => v.k);
    const early = lastValueFrom(router.observe('x').pipe(toArray()));
    done.next(keyed('x', 1));
    done.complete();
    expect(await early).toEqual([keyed('x', 1)]);
    expect(await lastValueFrom(router.observe('x').pipe(toArray()))).toEqual([]);
    expect(router.keys).toBe(0);

    const failing = new Subject<V>();
    const broken = routeByKey(failing, (v) => v.k);
    const waiting = firstValueFrom(broken.observe('y'));
    failing.error(new Error('log closed'));
    await expect(waiting).rejects.toThrow('log closed');
    await expect(firstValueFrom(broken.observe('y'))).rejects.toThrow('log closed');
  });
});
