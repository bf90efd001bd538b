// Run by jco-thread.test.ts in a process of its own (the test's own process loads jco to build
// its components): runs a component that needs jco's glue and reports, as one JSON line, its
// result, whether jco was loaded in this thread, and when the jco thread exited.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHeliaContentStore } from '../../processors/content/index.ts';
import { createExecutor } from '../../processors/wasm/index.ts';
import { jcoLoadedHere, jcoThreadRunning } from '../../processors/wasm/jco.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipvm-jco-thread-'));
const content = await createHeliaContentStore({ dataDir: join(dir, 'data') });
// glueFree off: strings run without jco otherwise (component.ts)
const executor = createExecutor({
  content,
  cacheDir: join(dir, 'cache'),
  poolSize: 1,
  glueFree: false,
});
try {
  const rsc = await content.add(new Uint8Array(readFileSync(process.argv[2]!)));
  const r = await executor.execute({ rsc, func: 'greet', args: ['thread'] });
  const runningAfterTask = jcoThreadRunning();
  const t = performance.now();
  while (jcoThreadRunning() && performance.now() - t < 20_000)
    await new Promise((resolve) => setTimeout(resolve, 50));
  console.log(
    JSON.stringify({
      value: r.ok ? r.value : r.error,
      transpilations: executor.stats().transpilations,
      jcoLoadedHere: jcoLoadedHere(),
      runningAfterTask,
      runningAtEnd: jcoThreadRunning(),
    }),
  );
} finally {
  await executor.close();
  await content.close();
  rmSync(dir, { recursive: true, force: true });
}
