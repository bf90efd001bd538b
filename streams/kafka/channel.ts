// A bounded hand-off from kafkajs' push callbacks to a pull-based async iterator: `push` waits
// while the buffer is full (backpressure on the fetch loop), and is released when the channel
// closes so that a consumer can disconnect without waiting on a handler that nobody drains.

export class Channel<T> {
  readonly #capacity: number;
  readonly #queue: T[] = [];
  #closed = false;
  #error: Error | undefined;
  #reader: (() => void) | undefined;
  readonly #writers: (() => void)[] = [];

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Adds an item; resolves once there is room again (or at once if closed: the item is dropped). */
  async push(item: T): Promise<void> {
    if (this.#closed) return;
    this.#queue.push(item);
    this.#wakeReader();
    while (!this.#closed && this.#queue.length >= this.#capacity) {
      await new Promise<void>((resolve) => this.#writers.push(resolve));
    }
  }

  /** Ends the iteration (after the buffered items, unless `error` is given: then it throws). */
  close(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#error = error;
    if (error !== undefined) this.#queue.length = 0;
    this.#wakeReader();
    for (const writer of this.#writers.splice(0)) writer();
  }

  #wakeReader(): void {
    const reader = this.#reader;
    this.#reader = undefined;
    reader?.();
  }

  /**
   * The next item, waiting for one if needed; `undefined` once closed and drained. Throws the
   * error given to `close`.
   */
  async take(): Promise<T | undefined> {
    for (;;) {
      const item = this.#queue.shift();
      if (item !== undefined) {
        if (this.#queue.length < this.#capacity) this.#writers.shift()?.();
        return item;
      }
      if (this.#closed) {
        if (this.#error !== undefined) throw this.#error;
        return undefined;
      }
      await new Promise<void>((resolve) => {
        this.#reader = resolve;
      });
    }
  }
}
