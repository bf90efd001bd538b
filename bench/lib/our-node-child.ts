// This node in a process of its own, so its peak memory can be read like a peer's: the embedded
// file log, the Helia content store and the real Wasm executor, driven over IPC by a benchmark.
//
//   fork('bench/lib/our-node-child.ts', ['--fsync', 'batch', '--wasm', 'a.wasm', ...])
//
// Each request is answered with its result plus the process's current and peak RSS.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileLog, type FsyncPolicy } from '../../streams/file/index.ts';
import { createNode } from '../../processors/node.ts';
import { createHeliaContentStore } from '../../processors/content/index.ts';
import { createExecutor } from '../../processors/wasm/index.ts';
import { wasmRunner } from '../../processors/wasm-runner.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { ReceiptEvent, WorkflowEndedEvent } from '../../schemas/events.ts';
import { currentRss, peakRss } from './proc.ts';
import type {
  ChildReply,
  ChildRequest,
  RanWorkflow,
  SeenReceipt,
  Throughput,
} from './our-node-protocol.ts';
import { chain } from './workflows.ts';
import { dagJson } from '../../schemas/codecs.ts';
import type { IpldMap, IpldValue } from '../../schemas/ipld.ts';

const argv = process.argv.slice(2);
const fsyncArg = argv[argv.indexOf('--fsync') + 1] ?? 'batch';
const fsync: FsyncPolicy =
  fsyncArg === 'batch' ? 'batch' : fsyncArg === 'none' ? 'none' : { intervalMs: Number(fsyncArg) };
const wasmFiles = argv.flatMap((a, i) => (argv[i - 1] === '--wasm' ? [a] : []));
const concurrency = Number(argv[argv.indexOf('--concurrency') + 1] ?? 256);

const root = mkdtempSync(join(tmpdir(), 'ipvm-bench-node-'));
const content = await createHeliaContentStore({ dataDir: root });
for (const f of wasmFiles) await content.add(new Uint8Array(readFileSync(f)));
const executor = createExecutor({ content, cacheDir: join(root, 'cache') });
const log = createFileLog({ dir: join(root, 'log'), fsync });
const node = await createNode({ log, runner: wasmRunner(executor), nodeId: 'bench', concurrency });

// Receipts and ends are followed once for the whole process; a run waits for the *next* end
// of its workflow CID, so a re-submitted (memoized) workflow is timed too.
const receiptsOf = new Map<string, SeenReceipt[]>();
const waiting = new Map<string, (e: WorkflowEndedEvent) => void>();
node.receipts().subscribe((r: ReceiptEvent) => {
  const key = r.workflow?.toString();
  if (key === undefined) return;
  receiptsOf.get(key)?.push({
    ran: r.invocation.toString(),
    receipt: r.receipt.toString(),
    instruction: r.instruction.toString(),
    out: dagJson.stringify(r.body.out),
    replayed: r.replayed,
  });
});
node.ends().subscribe((e) => {
  const key = e.workflow.toString();
  const w = waiting.get(key);
  if (w !== undefined) {
    waiting.delete(key);
    w(e);
  }
});

async function run(json: string): Promise<RanWorkflow> {
  const key = parseWorkflow(json).cid.toString();
  receiptsOf.set(key, []);
  const ended = new Promise<WorkflowEndedEvent>((resolve) => waiting.set(key, resolve));
  const t = performance.now();
  await node.submit(json);
  const end = await ended;
  const ms = performance.now() - t;
  const receipts = receiptsOf.get(key) ?? [];
  receiptsOf.delete(key);
  return {
    cid: key,
    ms,
    status: end.type,
    receipts,
    receiptCids: end.receipts.map((c) => c.toString()),
  };
}

function withMeta(value: IpldValue, run: number): string {
  const tasks = (value as { tasks: IpldMap[] }).tasks;
  return dagJson.stringify({
    tasks: tasks.map((t) => ({ ...t, meta: { ...(t.meta as IpldMap), run } })),
  });
}

async function handle(req: ChildRequest): Promise<unknown> {
  switch (req.cmd) {
    case 'run': {
      const out: RanWorkflow[] = [];
      for (const wf of req.workflows) out.push(await run(wf));
      return out;
    }
    case 'latency': {
      const xs: number[] = [];
      let start = req.start;
      const memoized = req.n === 0 ? chain(req.rsc, 1, start) : undefined;
      if (memoized !== undefined) await run(memoized.json);
      for (let i = 0; i < req.runs; i++) {
        // A memo hit needs a fresh workflow CID around the memoized task: another `meta`.
        const wf =
          memoized !== undefined
            ? withMeta(memoized.value, i)
            : chain(req.rsc, req.n, (start += 1000)).json;
        const r = await run(wf);
        if (r.status !== 'workflow/completed') throw new Error(`workflow ${r.cid} failed`);
        xs.push(r.ms);
      }
      return xs;
    }
    case 'throughput': {
      let start = req.start;
      let done = 0;
      const deadline = performance.now() + req.seconds * 1000;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: req.c }, async () => {
          while (performance.now() < deadline) {
            const r = await run(chain(req.rsc, req.n, (start += 1000)).json);
            if (r.status !== 'workflow/completed') throw new Error(`workflow ${r.cid} failed`);
            done++;
          }
        }),
      );
      return { workflows: done, seconds: (performance.now() - t0) / 1000 } satisfies Throughput;
    }
    case 'exit':
      return null;
  }
}

process.on('message', (msg: ChildRequest) => {
  handle(msg).then(
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
  await node.close();
  await log.close();
  await executor.close();
  await content.close();
  rmSync(root, { recursive: true, force: true });
  process.disconnect?.();
}

process.send?.({
  id: 0,
  ok: true,
  result: 'ready',
  rss: currentRss(process.pid),
  peakRss: peakRss(process.pid),
} satisfies ChildReply);
