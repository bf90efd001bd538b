// Worker-thread entry of the pool. The runner (and its cache of loaded glue modules) lives as
// long as the thread: that per-thread state is the point of keeping workers warm.
import { createRunner, type RunOutcome, type RunTask } from './runner.ts';

const runner = createRunner();

export default function run(task: RunTask): RunOutcome | Promise<RunOutcome> {
  return runner.run(task);
}
