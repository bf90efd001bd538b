/**
 * The load a node announces: how many tasks its runner is executing right now.
 *
 * @module
 */
import type { TaskRunner } from '../engine/execute-tasks.ts';

/** A runner that counts the calls in flight, beside the count. */
export function countingRunner(runner: TaskRunner): { runner: TaskRunner; running(): number } {
  let running = 0;
  return {
    runner: {
      ...(runner.supports === undefined ? {} : { supports: (op) => runner.supports!(op) }),
      async execute(request, options) {
        running++;
        try {
          return await runner.execute(request, options);
        } finally {
          running--;
        }
      },
    },
    running: () => running,
  };
}
