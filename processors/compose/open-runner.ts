/**
 * A task runner without a node: the data directory's content store and Wasm executor, for
 * replay jobs that re-execute receipts.
 *
 * @module
 */
import { join } from 'node:path';
import { resolveDataDir } from '../content/index.ts';
import type { TaskRunner } from '../engine/execute-tasks.ts';

/** A task runner with what it opened. */
export interface OpenRunner extends AsyncDisposable {
  runner: TaskRunner;
}

/** Opens the content store and Wasm executor of the data directory as a task runner. */
export async function openRunner(place: { dataDir?: string }): Promise<OpenRunner> {
  const [{ createHeliaContentStore }, { createExecutor }, { wasmRunner }] = await Promise.all([
    import('../content/index.ts'),
    import('../wasm/index.ts'),
    import('../wasm-runner.ts'),
  ]);
  const dataDir = resolveDataDir(place.dataDir);
  const content = await createHeliaContentStore({ dataDir });
  const executor = createExecutor({ content, cacheDir: join(dataDir, 'cache') });
  return {
    runner: wasmRunner(executor),
    async [Symbol.asyncDispose]() {
      await executor.close();
      await content.close();
    },
  };
}
