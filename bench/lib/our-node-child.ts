// This node in a process of its own, so its peak memory can be read like a peer's: the node as
// `ipvm start` opens it (the composition root, processors/compose/: embedded file log, Helia
// content store, real Wasm executor, effect runner, node-local engine), without an authority
// (unsigned receipts: the bare engine; bench/auth.bench.ts measures signing), driven over IPC.
//
//   fork('bench/lib/our-node-child.ts', ['--fsync', 'batch', '--wasm', 'a.wasm', ...,
//        '--data-dir', D, '--no-glue-free', '--poll-while-syncing', MS, '--heap-growth', P])
//   fork('bench/lib/our-node-child.ts', [...the same, '--warm-cache'])
//
// Each request is answered with its result plus the process's current and peak RSS (and what
// the highest it sampled was made of: rss-parts.ts). The requests themselves are served by
// our-node-driver.ts, which gap.bench.ts also runs in process.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FsyncPolicy } from '../../streams/file/index.ts';
import { compiledWhole } from '../../processors/compose/compiled-whole.ts';
import {
  DEFAULT_HEAP_GROWTH_PERCENT,
  limitHeapGrowth,
} from '../../processors/compose/heap-growth.ts';
import { currentRss, peakRss } from './proc.ts';
import { samplePeakParts } from './rss-parts.ts';
import type { ChildReply, ChildRequest } from './our-node-protocol.ts';

const argv = process.argv.slice(2);
const fsyncArg = argv[argv.indexOf('--fsync') + 1] ?? 'batch';
const fsync: FsyncPolicy =
  fsyncArg === 'batch' ? 'batch' : fsyncArg === 'none' ? 'none' : { intervalMs: Number(fsyncArg) };
const wasmFiles = argv.flatMap((a, i) => (argv[i - 1] === '--wasm' ? [a] : []));
const concurrency = Number(argv[argv.indexOf('--concurrency') + 1] ?? 256);
const heapArg = argv.indexOf('--heap-growth');
const heapGrowth = heapArg > 0 ? Number(argv[heapArg + 1]) : DEFAULT_HEAP_GROWTH_PERCENT;
const keptDir = argv.includes('--data-dir') ? argv[argv.indexOf('--data-dir') + 1] : undefined;
const glueFree = !argv.includes('--no-glue-free');
const pollArg = argv.indexOf('--poll-while-syncing');
const pollWhileSyncingMs = pollArg > 0 ? Number(argv[pollArg + 1]) : undefined;

// The heap of a long-lived node, as `ipvm start` sets it (processors/compose/heap-growth.ts).
limitHeapGrowth(heapGrowth);
const root = keptDir ?? mkdtempSync(join(tmpdir(), 'ipvm-bench-node-'));
mkdirSync(root, { recursive: true });
// Opened as `ipvm start` opens it, compiled whole (processors/compose/compiled-whole.ts): the
// node's modules and the driver (which stands for the API) are imported inside.
const { opened, driver } = await compiledWhole(async () => {
  const [{ openNode }, { createDriver }] = await Promise.all([
    import('../../processors/compose/open-node.ts'),
    import('./our-node-driver.ts'),
  ]);
  const opened = await openNode({
    dataDir: root,
    log: { backend: 'file', fsync, pollWhileSyncingMs },
    concurrency,
    glueFree,
    auth: false,
    nodeId: 'bench',
  });
  return { opened, driver: createDriver(opened.node) };
});
for (const f of wasmFiles) await opened.content.add(new Uint8Array(readFileSync(f)));
// `--warm-cache`: opened only so that cli/ts-cache.js keeps the stripped form of every module
// the node loads (see startOurNode); closed at once.
if (argv.includes('--warm-cache')) {
  await opened[Symbol.asyncDispose]();
  if (keptDir === undefined) rmSync(root, { recursive: true, force: true });
  process.exit(0);
}

// What the peak is made of (rss-parts.ts), sampled from now on.
const parts = samplePeakParts();
process.on('message', (msg: ChildRequest) => {
  driver.handle(msg).then(
    (result) => {
      const reply: ChildReply = {
        id: msg.id,
        ok: true,
        result,
        rss: currentRss(process.pid),
        peakRss: peakRss(process.pid),
        peakParts: parts.peak(),
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
  parts.stop();
  driver.close();
  await opened[Symbol.asyncDispose]();
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
