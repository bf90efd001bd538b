// mergeAsync: what the backends use to read several partitions at once.
import { describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mergeAsync } from '../../streams/merge.ts';

/** A source that never yields until `end` (an idle partition of a follow read). */
function idleSource(): { source: AsyncIterable<number>; end: () => void } {
  let end!: () => void;
  const never = new Promise<IteratorResult<number>>((resolve) => {
    end = () => resolve({ done: true, value: undefined });
  });
  return {
    source: {
      [Symbol.asyncIterator]: () => ({
        next: () => never,
        return: () => Promise.resolve({ done: true as const, value: undefined }),
      }),
    },
    end,
  };
}

/** The heap in use after a full collection. */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
}

async function* count(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield await Promise.resolve(i);
}

describe('mergeAsync', () => {
  it('yields every value of every source and ends when all end', async () => {
    const out: number[] = [];
    for await (const v of mergeAsync([count(3), count(2)])) out.push(v);
    expect(out.sort()).toEqual([0, 0, 1, 1, 2]);
  });

  it('keeps nothing per value while another source waits', async () => {
    // Promise.race over the pending pulls attached a reaction to the idle pull per value: a
    // follow read over an idle partition kept one promise chain per record (~100 B each).
    const N = 300_000;
    const idle = idleSource();
    let seen = 0;
    let before = 0;
    let grown = 0;
    for await (const _ of mergeAsync([idle.source, count(N)])) {
      if (++seen === 1_000) before = heapAfterGc();
      if (seen === N) {
        grown = heapAfterGc() - before; // measured while the idle pull is still pending
        idle.end();
      }
    }
    expect(seen).toBe(N);
    expect(grown, `heap grew ${grown} bytes over ${N} values`).toBeLessThan(5_000_000);
  });

  it('ends at once when returned while it waits for values, stopping the sources first', async () => {
    // An unsubscribe while every partition is idle: the merge is suspended waiting for a value,
    // and a generator's return() would wait for that await, i.e. for the next record.
    for (const n of [1, 3]) {
      const stopped = new AbortController();
      async function* waitsForStop(): AsyncGenerator<number> {
        yield await Promise.resolve(0);
        await new Promise((resolve) => stopped.signal.addEventListener('abort', resolve));
      }
      const merged = mergeAsync(
        Array.from({ length: n }, () => waitsForStop()),
        { stop: () => stopped.abort() },
      );
      for (let i = 0; i < n; i++) expect((await merged.next()).value).toBe(0);
      const pending = merged.next();
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(stopped.signal.aborted).toBe(false);
      await merged.return!();
      expect(stopped.signal.aborted).toBe(true);
      expect(await pending).toEqual({ done: true, value: undefined });
    }
  });

  it('rethrows a source error', async () => {
    async function* bad(): AsyncGenerator<number> {
      yield await Promise.resolve(1);
      throw new Error('partition 3 unreadable');
    }
    await expect(async () => {
      for await (const _ of mergeAsync([bad(), count(1)])) void _;
    }).rejects.toThrow('partition 3 unreadable');
  });
});
