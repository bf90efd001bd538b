// The time limit covers execution only: waiting for a busy worker pool is not billed as
// execution time, and a wait past the queue timeout is a retryable failure (never a result).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueueTimeoutError } from '../../processors/wasm/index.ts';
import { createFixture, type Fixture } from './setup.ts';

let f: Fixture;
beforeAll(async () => {
  f = await createFixture();
});
afterAll(async () => f.close());

describe('queue time and execution time', () => {
  it('starts the time limit when a worker takes the task', async () => {
    const limits = await f.component('limits');
    const exec = f.newExecutor({ inlineFuel: 0, poolSize: 1 });
    // Two long tasks hold the only worker for ~1.2 s; a short task with a 400 ms limit waits
    // behind them and must still run.
    const spins = [1, 2].map(() =>
      exec.execute({ rsc: limits, func: 'spin', args: [], limits: { timeMs: 600 } }),
    );
    const short = await exec.execute({
      rsc: limits,
      func: 'count',
      args: [1000],
      limits: { timeMs: 400 },
    });
    expect(short.ok ? short.value : short.error).toBe(1000);
    expect((await Promise.all(spins)).map((x) => !x.ok && x.error.kind)).toEqual(['time', 'time']);
  });

  it('fails a task that waits past the queue timeout with a retryable error', async () => {
    const limits = await f.component('limits');
    const exec = f.newExecutor({ inlineFuel: 0, poolSize: 1, queueTimeoutMs: 150 });
    const spin = exec.execute({ rsc: limits, func: 'spin', args: [], limits: { timeMs: 800 } });
    const queued = exec.execute({
      rsc: limits,
      func: 'count',
      args: [5],
      limits: { timeMs: 5000 },
    });
    const error = await queued.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(QueueTimeoutError);
    expect(error).toMatchObject({ retryable: true, timeoutMs: 150 });
    expect((error as Error).message).toMatch(/queue timeout of 150 ms .* the task did not run/);
    expect(((await spin) as { error?: { kind: string } }).error?.kind).toBe('time');
    // The pool keeps serving after the wait expired.
    const after = await exec.execute({ rsc: limits, func: 'count', args: [3] });
    expect(after.ok && after.value).toBe(3);
  });
});
