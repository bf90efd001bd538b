// This node in a process of its own, so its peak memory can be read like a peer's: the embedded
// file log, the Helia content store and the real Wasm executor, driven over IPC by a benchmark.
//
//   fork('bench/lib/our-node-child.ts', ['--fsync', 'batch', '--wasm', 'a.wasm', ...,
//        '--data-dir', D, '--no-glue-free'])
//
// Each request is answered with its result plus the process's current and peak RSS. The
// requests themselves are served by our-node-driver.ts, which gap.bench.ts also runs in process.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileLog, type FsyncPolicy } from '../../streams/file/index.ts';
import { createNode } from '../../processors/engine/node.ts';
import { createHeliaContentStore } from '../../processors/content/index.ts';
import { createExecutor } from '../../processors/wasm/index.ts';
import { wasmRunner } from '../../processors/wasm-runner.ts';
import { currentRss, peakRss } from './proc.ts';
import { createDriver } from './our-node-driver.ts';
import type { ChildReply, ChildRequest } from './our-node-protocol.ts';

const argv = process.argv.slice(2);
const fsyncArg = argv[argv.indexOf('--fsync') + 1] ?? 'batch';
const fsync: FsyncPolicy =
  fsyncArg === 'batch' ? 'batch' : fsyncArg === 'none' ? 'none' : { intervalMs: Number(fsyncArg) };
const wasmFiles = argv.flatMap((a, i) => (argv[i - 1] === '--wasm' ? [a] : []));
const concurrency = Number(argv[argv.indexOf('--concurrency') + 1] ?? 256);
const keptDir = argv.includes('--data-dir') ? argv[argv.indexOf('--data-dir') + 1] : undefined;
const glueFree = !argv.includes('--no-glue-free');

const root = keptDir ?? mkdtempSync(join(tmpdir(), 'ipvm-bench-node-'));
mkdirSync(root, { recursive: true });
const content = await createHeliaContentStore({ dataDir: root });
for (const f of wasmFiles) await content.add(new Uint8Array(readFileSync(f)));
const executor = createExecutor({ content, cacheDir: join(root, 'cache'), glueFree });
const log = createFileLog({ dir: join(root, 'log'), fsync });
const node = await createNode({ log, runner: wasmRunner(executor), nodeId: 'bench', concurrency });
const driver = createDriver(node);

process.on('message', (msg: ChildRequest) => {
  driver.handle(msg).then(
    (result) => {
      const reply: ChildReply = {
        id: msg.id,
        ok: true,
        result,
        rss: currentRss(process.pid),
        peakRss: peakRss(process.pid),
      };
      process.send?.(reply);
      if (msg.cmd === 'exit') void shutdown();
    },
    (error: unknown) => {
      const reply: ChildReply = {
        id: msg.id,
        ok: false,
        error: String(error instanceof Error ? (error.stack ?? error.message) : error),
        rss: NaN,
        peakRss: NaN,
      };
      process.send?.(reply);
    },
  );
});

async function shutdown(): Promise<void> {
  driver.close();
  await node.close();
  await log.close();
  await executor.close();
  await content.close();
  if (keptDir === undefined) rmSync(root, { recursive: true, force: true });
  process.disconnect?.();
}

process.send?.({
  id: 0,
  ok: true,
  result: 'ready',
  rss: currentRss(process.pid),
  peakRss: peakRss(process.pid),
} satisfies ChildReply);
