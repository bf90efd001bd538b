// The node in the benchmark's own process, as the steps/s benchmarks open it: the file log with
// the topology the composition root gives it, the Helia content store holding the example
// module, the real executor, the memo spilled to a scratch file, and a driver (what a client
// asks of it). `gap.bench.ts` sets it beside the node child; `steps-profile.ts` profiles it;
// `old-space.bench.ts` reads its collections.
import { join } from 'node:path';
import { createFileLog, type FsyncPolicy } from '../../streams/file/index.ts';
import { createNode, type IpvmNode } from '../../processors/engine/node.ts';
import { topologyFor } from '../../processors/compose/open-log.ts';
import { createHeliaContentStore } from '../../processors/content/index.ts';
import { createExecutor } from '../../processors/wasm/index.ts';
import { wasmRunner } from '../../processors/wasm-runner.ts';
import { createDriver, type Driver } from './our-node-driver.ts';

export interface InProcessNode {
  node: IpvmNode;
  log: ReturnType<typeof createFileLog>;
  driver: Driver;
  /** Closes the driver, the node and what it stands on (the directory is the caller's). */
  close: () => Promise<void>;
}

/** Opens the node over `dir` with `wasm` in its content store. */
export async function openInProcessNode(
  dir: string,
  wasm: Uint8Array,
  fsync: FsyncPolicy,
): Promise<InProcessNode> {
  const content = await createHeliaContentStore({ dataDir: dir });
  await content.add(wasm);
  const executor = createExecutor({ content, cacheDir: join(dir, 'cache') });
  const log = createFileLog({ dir: join(dir, 'log'), fsync });
  // The topology the composition root gives a file log (processors/compose/open-log.ts).
  const topology = await topologyFor(log, 'file', 'ipvm');
  const node = await createNode({
    log,
    runner: wasmRunner(executor),
    concurrency: 256,
    topology,
    spillDir: join(dir, 'cache'),
  });
  const driver = createDriver(node);
  return {
    node,
    log,
    driver,
    close: async () => {
      driver.close();
      await node.close();
      await log.close();
      await executor.close();
      await content.close();
    },
  };
}
