// The ended registry of a long-lived node whose workflows run again and again: every re-run
// replaces an end, and once the replaced ends take as much as the live ones the registry copies
// the live ones to new slabs (processors/engine/ended.ts). With a spill directory most of them
// are in the scratch file, read back whole slab by whole slab. Printed: that compaction's pause
// (the slowest `set`) and the time of the replacement passes, spilled beside in memory.
//
//   node bench/ended-compaction.bench.ts [--ends 200000] [--passes 2]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** The slowest replacement (a compaction) and all of them, in ms. */
async function run(spillDir: string | undefined): Promise<{ worst: number; total: number }> {
  const ended = createEndedRegistry({ spillDir });
  for (let n = 0; n < ENDS; n++) ended.set(keys[n]!, records[n]!);
  // The event loop turns between batches, as in a node: full slabs reach the spill file.
  const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));
  await turn();
  let worst = 0;
  let total = 0;
  for (let pass = 0; pass < PASSES; pass++)
    for (let n = 0; n < ENDS; n++) {
      const t = performance.now();
      ended.set(keys[n]!, records[n]!);
      const d = performance.now() - t;
      total += d;
      worst = Math.max(worst, d);
      if (n % 1000 === 999) await turn();
    }
  ended.close();
  return { worst, total };
}

const dir = mkdtempSync(join(tmpdir(), 'ipvm-bench-ended-'));
const spilled = await run(dir);
const inMemory = await run(undefined);
rmSync(dir, { recursive: true, force: true });
const rows: Row[] = [
  {
    scenario: `compaction of ${ENDS} live ends: the slowest replacement`,
    ours: ms(spilled.worst),
    peer: ms(inMemory.worst),
    ratio: lowerIsBetter(spilled.worst, inMemory.worst),
  },
  {
    scenario: `${PASSES} × ${ENDS} replacements, in all`,
    ours: ms(spilled.total),
    peer: ms(inMemory.total),
    ratio: lowerIsBetter(spilled.total, inMemory.total),
  },
];
const title = 'the ended registry under re-runs — spilled to a scratch file vs in memory';
printTable(title, 'in memory', rows);
writeResults('ended-compaction', { title, peer: 'in memory', rows });
