// A memo hit's submission folded at once and appended with its end, or folded when read back
// (`NodeInit.pipelineSubmissions`): two nodes in this process, each on its own file log (fsync
// batch), run the same scenarios in alternating rounds, so that the shared machine's load falls
// on both alike (each goes first every other round). The single-task rows take the same path on both nodes: they are the control.
//
//   node bench/submit-early.bench.ts [--rounds 8] [--n 100] [--seconds 1]
//
// Per round and node: `n` memo hits end to end (submit → end of a workflow whose one task is
// memoized), `n` single-task workflows one after another (submit → end), and `seconds` of
// steps/s with 16 single-task workflows in flight. Prints the median over the rounds of each
// round's p50 (or rate), for each node.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createFileLog } from '../streams/file/index.ts';
import { createNode, type IpvmNode } from '../processors/engine/node.ts';
import { createHeliaContentStore } from '../processors/content/index.ts';
import { createExecutor } from '../processors/wasm/index.ts';
import { wasmRunner } from '../processors/wasm-runner.ts';
import type { IpldValue } from '../schemas/ipld.ts';
import { buildExampleModule } from './lib/example-module.ts';
import { arg, machine, pct } from './lib/report.ts';

const ROUNDS = Number(arg('rounds', '8'));
const N = Number(arg('n', '100'));
const SECONDS = Number(arg('seconds', '1'));

const { root, wasm, rsc } = await buildExampleModule('submit-early');
const content = await createHeliaContentStore({ dataDir: root });
await content.add(wasm);
const executor = createExecutor({ content, cacheDir: join(root, 'cache') });
const runner = wasmRunner(executor);

let counter = 0;
const task = (arg: number, meta: IpldValue = {}): IpldValue => ({
  run: { rsc, op: 'wasm/run', input: { func: 'add_one', args: [arg] }, nnc: '' },
  cause: null,
  meta,
  prf: [],
});

async function roundTrip(node: IpvmNode, wf: IpldValue): Promise<number> {
  const t = performance.now();
  const parsed = await node.submit(wf);
  const end = await node.ended(parsed.cid);
  if (end.type !== 'workflow/completed') throw new Error(`workflow failed: ${end.reason}`);
  return performance.now() - t;
}

const modes = [
  { name: 'pipelined (default)', pipelineSubmissions: true },
  { name: 'folded when read back', pipelineSubmissions: false },
];
const nodes = await Promise.all(
  modes.map(async (m, i) => {
    const log = createFileLog({ dir: join(root, `log-${i}`), fsync: 'batch' });
    const node = await createNode({
      log,
      runner,
      nodeId: `bench-${i}`,
      concurrency: 256,
      pipelineSubmissions: m.pipelineSubmissions,
    });
    await roundTrip(node, { tasks: [task(-1)] }); // compile and cache the module
    return { ...m, log, node, hit: [] as number[], one: [] as number[], rate: [] as number[] };
  }),
);

for (let round = 0; round < ROUNDS; round++) {
  // Which node goes first alternates too (the second of a pair ran measurably faster).
  for (const n of round % 2 === 0 ? nodes : [...nodes].reverse()) {
    const hits: number[] = [];
    for (let i = 0; i < N; i++)
      hits.push(await roundTrip(n.node, { tasks: [task(-1, { round, i })] }));
    const ones: number[] = [];
    for (let i = 0; i < N; i++) ones.push(await roundTrip(n.node, { tasks: [task(++counter)] }));
    let done = 0;
    const t0 = performance.now();
    const deadline = t0 + SECONDS * 1000;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (performance.now() < deadline) {
          await roundTrip(n.node, { tasks: [task(++counter)] });
          done++;
        }
      }),
    );
    n.hit.push(pct(hits, 50));
    n.one.push(pct(ones, 50));
    n.rate.push(done / ((performance.now() - t0) / 1000));
  }
}

console.log(`memo hits folded at once or when read back — ${JSON.stringify(machine())}`);
console.log(`${ROUNDS} alternating rounds; medians of the rounds' p50s (rates)\n`);
console.log(
  `${'node'.padEnd(24)} ${'memo hit p50'.padStart(14)} ${'1 task p50'.padStart(12)} ${'steps/s (16)'.padStart(13)}`,
);
for (const n of nodes)
  console.log(
    `${n.name.padEnd(24)} ${`${pct(n.hit, 50).toFixed(3)} ms`.padStart(14)} ${`${pct(n.one, 50).toFixed(3)} ms`.padStart(12)} ${pct(n.rate, 50).toFixed(0).padStart(13)}`,
  );

for (const n of nodes) {
  await n.node.close();
  await n.log.close();
}
await executor.close();
await content.close();
rmSync(root, { recursive: true, force: true });
