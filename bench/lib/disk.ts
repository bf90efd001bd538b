// The disk's floors under a durable step, shared by the benchmarks that print them beside the
// node's figures (floors.bench.ts, engine.bench.ts).
import { closeSync, fdatasync, fdatasyncSync, openSync, write, writeSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** How long to measure: at least `min` samples and, when given, at least `seconds`. */
export interface SampleBudget {
  min: number;
  seconds?: number;
}

/** Latencies (ms) of `op` on files opened in `dir` under `names`, closed after. */
async function timeOn(
  dir: string,
  names: string[],
  budget: SampleBudget,
  op: (fds: number[]) => void | Promise<unknown>,
): Promise<number[]> {
  const fds = names.map((name) => openSync(join(dir, name), 'w'));
  const lat: number[] = [];
  const end = performance.now() + (budget.seconds ?? 0) * 1000;
  try {
    while (lat.length < budget.min || performance.now() < end) {
      const t = performance.now();
      await op(fds);
      lat.push(performance.now() - t);
    }
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  return lat;
}

const record = Buffer.alloc(256, 1);
const writeAsync = promisify(write);
const fdatasyncAsync = promisify(fdatasync);

/**
 * Latencies (ms) of one durable 256-byte append (write + fdatasync) to a file in `dir`: the
 * floor of any durable step that waits for its own commit.
 */
export function durableAppends(dir: string, budget: SampleBudget): Promise<number[]> {
  return timeOn(dir, ['fsync-probe'], budget, ([fd]) => {
    writeSync(fd!, record);
    fdatasyncSync(fd!);
  });
}

/**
 * Latencies (ms) of a 256-byte append to each of `files` files in `dir` at once, written and
 * synced on the thread pool in parallel, as the file log's group commit does. One file is the
 * floor of a memo hit (its submission, replayed receipt and end, all on `invocations`); two, of
 * a commit that touches two streams, such as a single-step workflow's receipt (on `pure`) and
 * its end (on `invocations`).
 */
export function poolCommits(dir: string, files: 1 | 2, budget: SampleBudget): Promise<number[]> {
  const names = files === 1 ? ['probe-a'] : ['probe-a', 'probe-b'];
  return timeOn(dir, names, budget, (fds) =>
    Promise.all(fds.map((fd) => writeAsync(fd, record).then(() => fdatasyncAsync(fd)))),
  );
}
