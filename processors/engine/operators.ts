/**
 * The engine's own stream operators, for the places where RxJS's general ones cost time that
 * grows with the backlog:
 *
 * - `mapBounded`: an async function over the values with at most `concurrency` calls in flight,
 *   results as they settle — `mergeMap(fn, concurrency)` with the waiting values in a queue
 *   whose take is O(1). RxJS keeps them in an array and takes each with `shift()`, which copies
 *   the whole array once it is large: a workflow releasing 100 000 tasks at once spent most of
 *   its time moving that array.
 * - One time slice, shared by `mapBounded`, the log reads (`reads.ts`) and the core's long
 *   appends and local hand-over (`core.ts`): after {@link SLICE_MS} of work without the event
 *   loop turning they wait for it to turn. A backlog
 *   already in memory (tasks released, records buffered, Wasm calls that settle at once) is all
 *   microtasks, and without the pause timers (the cluster's heartbeats, deadlines) and I/O (the
 *   API) wait until it is gone: 2–5 s for a workflow of 20 000 tasks.
 * - `flatMapSync`: each value to zero or more values, synchronously — `mergeMap(v => array)`
 *   without an inner subscription per value. Those are removed from their parent by a linear
 *   scan, and when the downstream re-enters the stream (a receipt folded releases the next
 *   task, which runs and is folded in turn) thousands are open at once.
 * - `routeByKey`: the values of one key (a workflow's receipts, its end) to the observers of
 *   that key, with one lookup per value — not `filter` per observer, which tests every value
 *   against every observer: a node serving n runs at once did n tests per receipt and per end.
 *
 * @module
 */
import { Observable, type OperatorFunction, type Subscriber } from '../rx/index.ts';

/** Work the engine does before it lets the event loop turn. */
export const SLICE_MS = 10;

// One slice for the whole process, as there is one event loop. It starts at the first check
// after the loop turned (an immediate marks the turn), so a node that was idle does not
// yield before its first piece of work.
let sliceStart = 0;
let inSlice = false;
let turning: Promise<void> | null = null;

/** True when the current slice is used up: wait for {@link nextTurn} before more work. */
export function sliceOver(): boolean {
  const now = performance.now();
  if (!inSlice) {
    inSlice = true;
    sliceStart = now;
    setImmediate(() => (inSlice = false)).unref();
    return false;
  }
  return now - sliceStart > SLICE_MS;
}

/** Resolves once the event loop has turned (timers and I/O ran); a new slice starts then. */
export function nextTurn(): Promise<void> {
  turning ??= new Promise<void>((resolve) =>
    setImmediate(() => {
      turning = null;
      inSlice = false;
      resolve();
    }),
  );
  return turning;
}

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

  /** The oldest item, left in place; `undefined` when empty. */
  peek(): T | undefined {
    return this.items[this.head];
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
      let paused = false;

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
        while (!closed && !paused && active < concurrency && waiting.length > 0) {
          if (sliceOver()) {
            paused = true;
            void nextTurn().then(() => {
              paused = false;
              drain();
            });
            return;
          }
          start(waiting.take() as T);
        }
        finishIfDone();
      };

      const subscription = source.subscribe({
        next(value) {
          if (closed) return;
          if (active < concurrency && waiting.length === 0 && !paused && !sliceOver()) start(value);
          else {
            waiting.push(value);
            drain();
          }
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

/** Maps each value to zero or more values, emitted synchronously, in order. */
export function flatMapSync<T, R>(fn: (value: T) => readonly R[]): OperatorFunction<T, R> {
  return (source) =>
    new Observable<R>((subscriber) =>
      source.subscribe({
        next(value) {
          let out: readonly R[];
          try {
            out = fn(value);
          } catch (error) {
            subscriber.error(error);
            return;
          }
          for (const r of out) subscriber.next(r);
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      }),
    );
}

/** Observers of a source's values by key (see {@link routeByKey}). */
export interface KeyRouter<T> {
  /** The source's values whose key is `key`, from when this is subscribed. */
  observe(key: string): Observable<T>;
  /** Keys with at least one observer now. */
  readonly keys: number;
}

/**
 * Routes the values of `source` to the observers of their key (`keyOf`; undefined: nobody's).
 * The source is subscribed once, at the first observer, for the router's life; an observer
 * that unsubscribes (or is unsubscribed from inside its own `next`) is gone at once. An error
 * or completion of the source reaches every observer, and any that comes later at once.
 */
export function routeByKey<T>(
  source: Observable<T>,
  keyOf: (value: T) => string | undefined,
): KeyRouter<T> {
  const observers = new Map<string, Set<Subscriber<T>>>();
  let subscribed = false;
  let ended: { error: unknown } | 'complete' | undefined;
  const end = (how: { error: unknown } | 'complete'): void => {
    ended = how;
    const all = [...observers.values()].flatMap((set) => [...set]);
    observers.clear();
    for (const o of all) {
      if (how === 'complete') o.complete();
      else o.error(how.error);
    }
  };
  const start = (): void => {
    if (subscribed) return;
    subscribed = true;
    source.subscribe({
      next(value) {
        if (observers.size === 0) return; // (no key computed for nobody)
        const key = keyOf(value);
        const set = key === undefined ? undefined : observers.get(key);
        if (set === undefined) return;
        // (a copy when several: one may unsubscribe another from inside its next)
        if (set.size === 1) for (const o of set) o.next(value);
        else for (const o of [...set]) o.next(value);
      },
      error: (error: unknown) => end({ error }),
      complete: () => end('complete'),
    });
  };
  return {
    observe: (key) =>
      new Observable<T>((subscriber) => {
        start();
        if (ended !== undefined) {
          if (ended === 'complete') subscriber.complete();
          else subscriber.error(ended.error);
          return;
        }
        let set = observers.get(key);
        if (set === undefined) observers.set(key, (set = new Set()));
        set.add(subscriber);
        return () => {
          set.delete(subscriber);
          if (set.size === 0 && observers.get(key) === set) observers.delete(key);
        };
      }),
    get keys() {
      return observers.size;
    },
  };
}
