// Merges async iterables into one, yielding each value as soon as its source has it.
// Used by the backends to read several partitions at once; not part of the public contract.

/**
 * Yields the values of every source as they arrive; ends when all sources end, or as soon as
 * `signal` is aborted (even if values are already waiting). Breaking out
 * calls `return()` on every source: sources that may wait forever (follow reads) must watch a
 * signal that `stop` aborts: it is called first when the merge ends early, because `return()`
 * on a generator suspended in an `await` waits for that await.
 */
export async function* mergeAsync<T>(
  sources: readonly AsyncIterable<T>[],
  options: { signal?: AbortSignal; stop?: () => void } = {},
): AsyncGenerator<T> {
  const { signal, stop } = options;
  if (sources.length === 1) {
    try {
      for await (const value of sources[0]!) {
        if (signal?.aborted === true) return;
        yield value;
      }
    } finally {
      stop?.();
    }
    return;
  }
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  type Step = { index: number; result: IteratorResult<T> };
  const pending = new Map<number, Promise<Step>>();
  const pull = (index: number): void => {
    pending.set(
      index,
      iterators[index]!.next().then((result) => ({ index, result })),
    );
  };
  iterators.forEach((_, index) => pull(index));
  try {
    while (pending.size > 0) {
      const { index, result } = await Promise.race(pending.values());
      if (result.done === true) {
        pending.delete(index);
        continue;
      }
      // Values other sources produced before an abort are not handed out after it.
      if (signal?.aborted === true) return;
      pull(index);
      yield result.value;
    }
  } finally {
    stop?.();
    // Settle what is still pending (their values are dropped: the consumer stopped), then close.
    await Promise.allSettled(pending.values());
    await Promise.allSettled(
      iterators.map(async (iterator) => {
        await iterator.return?.();
      }),
    );
  }
}
