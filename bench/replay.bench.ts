// Engine rebuild from offset 0 — memo and scheduler folded from the log at start-up — beside
// its floor measured in the same run: the same log read to its end with nothing done per record.
//
//   node --expose-gc bench/replay.bench.ts [--workflows 30000] [--chains 3000] [--runs 5]
//                                          [--profile FILE]
//
// The log is written once (`--workflows` single-task and `--chains` 5-task add_one workflows
// through the real executor, fsync none). Then each run opens the log afresh and either reads
// every stream to its end (the floor) or starts a node on it (`node:recovered`: events folded and
// the time taken); the two alternate, and the medians of `--runs` are printed, with the first
// rebuild apart (its code not yet compiled by V8's optimizing tiers, as in a fresh process).
// With --expose-gc each run starts on a collected heap, as a rebuild in a fresh process does;
// without it, the garbage of the run before is collected during the next. `--profile`
// keeps a CPU profile of one more recovery (summarized; open the file in DevTools).
import { rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { createFileLog } from '../streams/file/index.ts';
import type { Log } from '../streams/log.ts';
import { createNode, type NodeInit } from '../processors/engine/node.ts';
import { topologyFor } from '../processors/compose/open-log.ts';
import { createHeliaContentStore } from '../processors/content/index.ts';
import { createExecutor } from '../processors/wasm/index.ts';
import { wasmRunner } from '../processors/wasm-runner.ts';
import { buildExampleModule } from './lib/example-module.ts';
import { chain, independent } from './lib/workflows.ts';
import { summarize, type Profile } from './lib/profile-summary.ts';
import { arg, higherIsBetter, machine, pct, printTable, rate, writeResults } from './lib/report.ts';

const WORKFLOWS = Number(arg('workflows', '30000'));
const CHAINS = Number(arg('chains', '3000'));
const RUNS = Number(arg('runs', '5'));
const PROFILE = arg('profile', '');

const { root, wasm, rsc } = await buildExampleModule('replay');
const content = await createHeliaContentStore({ dataDir: root });
await content.add(wasm);
const executor = createExecutor({ content, cacheDir: join(root, 'cache') });
const runner = wasmRunner(executor);
const dir = join(root, 'log');
// The topology the composition root gives a file log (processors/compose/open-log.ts).
const init = async (log: Log): Promise<NodeInit> => ({
  log,
  runner,
  nodeId: 'replay',
  concurrency: 256,
  topology: await topologyFor(log, 'file', 'ipvm'),
  // As openNode gives it: the memo's and the ended registry's slabs spill to a scratch file.
  spillDir: join(root, 'cache'),
});

// --- the log ---------------------------------------------------------------------------------
{
  const log = createFileLog({ dir, fsync: 'none' });
  const node = await createNode(await init(log));
  const t = performance.now();
  let next = 0;
  const todo = [
    ...Array.from({ length: WORKFLOWS }, (_, i) => () => independent(rsc, 1, 10 * i)),
    ...Array.from({ length: CHAINS }, (_, i) => () => chain(rsc, 5, 1e9 + 10 * i)),
  ];
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < todo.length) {
        const wf = todo[next++]!();
        const end = await node.ended((await node.submit(wf.value)).cid);
        if (end.type !== 'workflow/completed') throw new Error(`workflow ${wf.cid} failed`);
      }
    }),
  );
  await node.close();
  await log.close();
  console.log(
    `log written: ${todo.length} workflows in ${((performance.now() - t) / 1000).toFixed(1)} s`,
  );
}

// --- runs ------------------------------------------------------------------------------------
const STREAMS = ['ipvm.pure', 'ipvm.effects.pure', 'ipvm.effects.managed', 'ipvm.invocations'];

/** The floor: every record of the node's streams read to the end, nothing done with it. */
async function readAll(): Promise<{ events: number; ms: number }> {
  const log = createFileLog({ dir, readOnly: true });
  const t = performance.now();
  let events = 0;
  for (const stream of STREAMS) {
    for await (const r of log.read(stream, {})) if (r.value.length >= 0) events++;
  }
  const ms = performance.now() - t;
  await log.close();
  return { events, ms };
}

async function recoverOnce(): Promise<{ events: number; ms: number }> {
  const log = createFileLog({ dir });
  let recovered: { receipts: number; invocations: number; ms: number } | undefined;
  const node = await createNode({
    ...(await init(log)),
    onProgress: (e) => {
      if (e.type === 'node:recovered') recovered = e;
    },
  });
  await node.close();
  await log.close();
  return { events: recovered!.receipts + recovered!.invocations, ms: recovered!.ms };
}

/** A full collection when the process was started with --expose-gc (npm run bench does). */
const gc = (globalThis as { gc?: () => void }).gc;
const collected = gc !== undefined;
const collect = (): void => gc?.();

const floor: number[] = [];
const replay: number[] = [];
let events = 0;
let floorEvents = 0;
for (let i = 0; i < RUNS; i++) {
  // Alternating order: the one that runs second finds the file in the page cache as warm.
  const order = i % 2 === 0 ? ['floor', 'replay'] : ['replay', 'floor'];
  for (const which of order) {
    // Each run starts on a collected heap, as a rebuild starts in a fresh process: without
    // this, the garbage of the run before (a whole node's state) is collected during the next.
    collect();
    if (which === 'floor') {
      const r = await readAll();
      floorEvents = r.events;
      floor.push(r.events / (r.ms / 1000));
    } else {
      const r = await recoverOnce();
      events = r.events;
      replay.push(r.events / (r.ms / 1000));
    }
  }
}

const rows = [
  {
    scenario: 'engine rebuild from offset 0 (memo + scheduler), events/s',
    ours: rate(pct(replay, 50), '/s'),
    peer: rate(pct(floor, 50), '/s'),
    ratio: higherIsBetter(pct(replay, 50), pct(floor, 50)),
    note:
      `median of ${RUNS}, the first ${rate(replay[0]!, '/s')}; ${events} events folded, ` +
      `${floorEvents} records read` +
      (collected ? '' : '; heap not collected between runs (run with --expose-gc)'),
  },
];
printTable(
  `replay from offset 0 — file log, ${JSON.stringify(machine())}`,
  'floor: read to the end',
  rows,
);
console.log(
  `runs (events/s): replay ${replay.map((x) => x.toFixed(0)).join(', ')}; floor ${floor.map((x) => x.toFixed(0)).join(', ')}`,
);
writeResults('replay', { title: 'replay from offset 0', peer: 'floor', rows, replay, floor });

if (PROFILE !== '') {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  await recoverOnce();
  const { profile } = await session.post('Profiler.stop');
  session.disconnect();
  writeFileSync(PROFILE, JSON.stringify(profile));
  console.log(summarize(profile as unknown as Profile, { top: Number(arg('top', '25')) }));
}

await executor.close();
await content.close();
rmSync(root, { recursive: true, force: true });
