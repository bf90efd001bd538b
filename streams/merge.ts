// Merges async iterables into one, yielding each value as soon as its source has it.
// Used by the backends to read several partitions at once; not part of the public contract.

/**
 * Yields the values of every source as they arrive; ends when all sources end, or as soon as
 * `signal` is aborted (even if values are already waiting). Breaking out
 * calls `return()` on every source: sources that may wait forever (follow reads) must watch a
 * signal that `stop` aborts: it is called first when the merge ends early, because `return()`
 * on a generator suspended in an `await` waits for that await. A `return()` while the merge
 * waits for values (an unsubscribe on idle partitions) calls `stop` at once and ends the wait.
 */
export function mergeAsync<T>(
  sources: readonly AsyncIterable<T>[],
  options: { signal?: AbortSignal; stop?: () => void } = {},
): AsyncIterableIterator<T> {
  if (sources.length === 1) return single(sources[0]!, options);
  const ending: Ending = { ending: false, wake: undefined };
  const merged = mergeSources(sources, options, ending);
  const iterator: AsyncIterableIterator<T> = {
    next: () => merged.next(),
    return: () => {
      ending.ending = true;
      options.stop?.();
      ending.wake?.();
      return merged.return(undefined);
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

/**
 * One source handed out as it is (a wrapping generator would cost every value a promise and a
 * turn), ending once `signal` is aborted and calling `stop` before the source's `return()`.
 */
function single<T>(
  source: AsyncIterable<T>,
  { signal, stop }: { signal?: AbortSignal; stop?: () => void },
): AsyncIterableIterator<T> {
  const it = source[Symbol.asyncIterator]();
  const end = async (): Promise<IteratorResult<T>> => {
    stop?.();
    await it.return?.();
    return { done: true, value: undefined };
  };
  const iterator: AsyncIterableIterator<T> = {
    next: () => (signal?.aborted === true ? end() : it.next()),
    return: end,
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

/** Set by `return()`: the merge is to end; `wake` ends its wait for values. */
interface Ending {
  ending: boolean;
  wake: (() => void) | undefined;
}

async function* mergeSources<T>(
  sources: readonly AsyncIterable<T>[],
  options: { signal?: AbortSignal; stop?: () => void },
  ending: Ending,
): AsyncGenerator<T> {
  const { signal, stop } = options;
  const iterators = sources.map((source) => source[Symbol.asyncIterator]());
  // Each source's next value lands in `ready` and wakes the loop. (Not Promise.race over the
  // pending pulls: every race adds a reaction to each still-pending pull, so a source that waits
  // long — an idle partition of a follow read — would keep one per value the others yield.)
  type Step = { index: number; result: IteratorResult<T> } | { index: number; error: unknown };
  const ready: Step[] = [];
  // The pull under way per source (undefined: none), and its two handlers, made once per source
  // rather than once per value (a follow read pulls once per record).
  const pending: Array<Promise<void> | undefined> = iterators.map(() => undefined);
  const settle = (step: Step): void => {
    pending[step.index] = undefined;
    ready.push(step);
    ending.wake?.();
  };
  const onResult = iterators.map(
    (_, index) =>
      (result: IteratorResult<T>): void =>
        settle({ index, result }),
  );
  const onError = iterators.map(
    (_, index) =>
      (error: unknown): void =>
        settle({ index, error }),
  );
  const pull = (index: number): void => {
    pending[index] = iterators[index]!.next().then(onResult[index], onError[index]);
  };
  iterators.forEach((_, index) => pull(index));
  let active = iterators.length;
  try {
    while (active > 0 && !ending.ending) {
      const step = ready.shift();
      if (step === undefined) {
        await new Promise<void>((resolve) => (ending.wake = resolve));
        ending.wake = undefined;
        continue;
      }
      if ('error' in step) throw step.error;
      if (step.result.done === true) {
        active--;
        continue;
      }
      // Values other sources produced before an abort are not handed out after it.
      if (signal?.aborted === true) return;
      pull(step.index);
      yield step.result.value;
    }
  } finally {
    stop?.();
    // Settle what is still pending (their values are dropped: the consumer stopped), then close.
    await Promise.allSettled(pending.filter((p) => p !== undefined));
    await Promise.allSettled(
      iterators.map(async (iterator) => {
        await iterator.return?.();
      }),
    );
  }
}
