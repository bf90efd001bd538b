// A gate in front of the worker pool: a task takes a worker slot before its time limit starts,
// so waiting for a busy pool is never billed as execution time. The wait has its own deadline
// (the queue timeout); one that expires is retryable, since the task never ran.
import { QueueTimeoutError } from './errors.ts';

/** Slots for `size` workers, handed out in arrival order. */
export interface WorkerGate {
  /**
   * Waits for a free slot; resolves with its release function.
   * @throws {QueueTimeoutError} (retryable) after `timeoutMs` without a slot
   */
  acquire(timeoutMs: number, signal?: AbortSignal): Promise<() => void>;
}

export function createWorkerGate(size: number): WorkerGate {
  let free = size;
  const waiting: Array<(release: () => void) => void> = [];
  const release = (): void => {
    const next = waiting.shift();
    if (next !== undefined) next(once());
    else free++;
  };
  const once = (): (() => void) => {
    let done = false;
    return () => {
      if (!done) {
        done = true;
        release();
      }
    };
  };
  return {
    acquire(timeoutMs, signal) {
      signal?.throwIfAborted();
      if (free > 0) {
        free--;
        return Promise.resolve(once());
      }
      return new Promise((resolve, reject) => {
        const started = performance.now();
        const take = (r: () => void): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', abort);
          resolve(r);
        };
        const leave = (): void => {
          const i = waiting.indexOf(take);
          if (i >= 0) waiting.splice(i, 1);
        };
        const timer = setTimeout(() => {
          leave();
          signal?.removeEventListener('abort', abort);
          reject(new QueueTimeoutError(timeoutMs, performance.now() - started));
        }, timeoutMs);
        const abort = (): void => {
          leave();
          clearTimeout(timer);
          reject(signal!.reason as Error);
        };
        signal?.addEventListener('abort', abort, { once: true });
        waiting.push(take);
      });
    },
  };
}
