// The ended registry of a long-lived node whose workflows run again and again: every re-run
// replaces an end, and once the replaced ends take as much as the live ones the registry copies
// the live ones to new slabs (processors/engine/ended.ts). With a spill directory most of them
// are in the scratch file, read back whole slab by whole slab; a compaction copies a chunk of
// entries per turn of the event loop. Printed: the longest the event loop was held
// (`monitorEventLoopDelay`, 1 ms resolution) and the passes' wall time, spilled beside in memory.
//
//   node bench/ended-compaction.bench.ts [--ends 200000] [--passes 2]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { cidOf } from '../schemas/cid.ts';
import { encodeEvent } from '../schemas/events.ts';
import { createEndedRegistry } from '../processors/engine/ended.ts';
import { arg, lowerIsBetter, ms, printTable, writeResults, type Row } from './lib/report.ts';

const ENDS = Number(arg('ends', '200000'));
const PASSES = Number(arg('passes', '2'));
const keys: string[] = [];
const records: Uint8Array[] = [];
for (let n = 0; n < ENDS; n++) {
  const workflow = cidOf({ workflow: n });
  keys.push(workflow.toString());
  records.push(
    encodeEvent({
      type: 'workflow/completed',
      workflow,
      receipts: [cidOf({ receipt: n })],
      failed: [],
      reason: null,
      at: 1_700_000_000_000 + n,
    }),
  );
}

/** The longest the event loop was held during the replacement passes, and their wall time. */
async function run(spillDir: string | undefined): Promise<{ stall: number; total: number }> {
  const ended = createEndedRegistry({ spillDir });
  for (let n = 0; n < ENDS; n++) ended.set(keys[n]!, records[n]!);
  // The event loop turns between batches, as in a node: full slabs reach the spill file, and a
  // compaction goes on a chunk at a time.
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  await turn();
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const t = performance.now();
  for (let pass = 0; pass < PASSES; pass++)
    for (let n = 0; n < ENDS; n++) {
      ended.set(keys[n]!, records[n]!);
      if (n % 1000 === 999) await turn();
    }
  // until the registry holds at most twice its live ends again (the last compaction is over)
  while (ended.heldBytes > 2 * ENDS * (records[0]!.length + 4)) await turn();
  const total = performance.now() - t;
  delay.disable();
  ended.close();
  return { stall: delay.max / 1e6, total };
}

const dir = mkdtempSync(join(tmpdir(), 'ipvm-bench-ended-'));
const spilled = await run(dir);
const inMemory = await run(undefined);
rmSync(dir, { recursive: true, force: true });
const rows: Row[] = [
  {
    scenario: `${ENDS} live ends replaced: the longest event-loop stall`,
    ours: ms(spilled.stall),
    peer: ms(inMemory.stall),
    ratio: lowerIsBetter(spilled.stall, inMemory.stall),
  },
  {
    scenario: `${PASSES} × ${ENDS} replacements and their compactions, wall time`,
    ours: ms(spilled.total),
    peer: ms(inMemory.total),
    ratio: lowerIsBetter(spilled.total, inMemory.total),
  },
];
const title = 'the ended registry under re-runs — spilled to a scratch file vs in memory';
printTable(title, 'in memory', rows);
writeResults('ended-compaction', { title, peer: 'in memory', rows });
