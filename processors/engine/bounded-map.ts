/**
 * `mapBounded`: an RxJS operator that runs an async function over the values of a stream with
 * at most `concurrency` calls in flight, emitting results as they settle — what
 * `mergeMap(fn, concurrency)` does, with the waiting values in a queue whose take is O(1).
 *
 * RxJS keeps the values waiting for a slot in an array and takes each with `shift()`, which
 * copies the whole array once it is large: a workflow that releases 100 000 tasks at once spent
 * most of its time moving that array (quadratic in the tasks waiting). The executor's values
 * wait here instead.
 *
 * @module
 */
import { Observable, type OperatorFunction } from 'rxjs';

/**
 * A FIFO queue: an array read from a moving head, compacted when the consumed part is more than
 * half of it, so push and take are O(1) amortized.
 */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The oldest item, removed; `undefined` when empty. */
  take(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/**
 * Calls `fn` for each value with at most `concurrency` calls unsettled, and emits each result
 * when it settles (so in completion order, as `mergeMap`). `fn` may return `null` to skip a
 * value without a call. A rejection errors the output; unsubscribing stops taking values
 * (calls in flight finish, their results are dropped). Completes when the source has and every
 * call has settled.
 */
export function mapBounded<T, R>(
  fn: (value: T) => Promise<R> | null,
  concurrency: number,
): OperatorFunction<T, R> {
  if (!(concurrency >= 1)) throw new RangeError(`concurrency must be ≥ 1, got ${concurrency}`);
  return (source) =>
    new Observable<R>((subscriber) => {
      const waiting = new Fifo<T>();
      let active = 0;
      let sourceDone = false;
      let closed = false;

      const finishIfDone = (): void => {
        if (sourceDone && active === 0 && waiting.length === 0 && !closed) {
          closed = true;
          subscriber.complete();
        }
      };
      const start = (value: T): void => {
        let promise: Promise<R> | null;
        try {
          promise = fn(value);
        } catch (error) {
          closed = true;
          subscriber.error(error);
          return;
        }
        if (promise === null) return;
        active++;
        promise.then(
          (result) => {
            active--;
            if (closed) return;
            subscriber.next(result);
            drain();
          },
          (error: unknown) => {
            active--;
            if (closed) return;
            closed = true;
            subscriber.error(error);
          },
        );
      };
      const drain = (): void => {
        while (!closed && active < concurrency && waiting.length > 0) start(waiting.take() as T);
        finishIfDone();
      };

      const subscription = source.subscribe({
        next(value) {
          if (closed) return;
          if (active < concurrency && waiting.length === 0) start(value);
          else waiting.push(value);
          finishIfDone();
        },
        error(error: unknown) {
          if (closed) return;
          closed = true;
          subscriber.error(error);
        },
        complete() {
          sourceDone = true;
          drain();
        },
      });
      return () => {
        closed = true;
        subscription.unsubscribe();
      };
    });
}
