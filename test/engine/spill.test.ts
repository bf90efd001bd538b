// A node with a spill directory (NodeInit.spillDir, as openNode gives it) keeps its history —
// the memo's receipts, the ended workflows, and the bytes of the CIDs they are kept by — in
// scratch files, not in memory: a memo hit on a workflow long past, and the end of one, are
// still answered, before and after a restart. (12 000 workflows: the first chunk of each index
// of CIDs, ~4 000 of them, is spilled once the third is opened; a lookup of one that failed to
// compare would run its workflow again.)
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { createNode, type IpvmNode } from '../../processors/engine/node.ts';
import { createNodeMetrics } from '../../processors/metrics.ts';
import { parseWorkflow, type ParsedWorkflow } from '../../schemas/model.ts';
import { chain } from '../conformance/engine.suite.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';

let dir: string;
let runner: CoreRunner;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-spill-'));
  runner = await createCoreRunner();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** Runs `workflows`, 64 at a time; resolves with their ends' receipt lists. */
async function runAll(node: IpvmNode, workflows: ParsedWorkflow[]): Promise<string[]> {
  const out: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (next < workflows.length) {
        const i = next++;
        await node.submit(workflows[i]!);
        const end = await node.ended(workflows[i]!.cid);
        expect(end.type).toBe('workflow/completed');
        out[i] = end.receipts.join(',');
      }
    }),
  );
  return out;
}

describe('a node with a spill directory', () => {
  it('answers memo hits and ends from its spilled history, before and after a restart', async () => {
    const log = createFileLog({ dir: join(dir, 'log'), fsync: 'none' });
    const spillDir = join(dir, 'cache');
    const open = (): Promise<IpvmNode> =>
      createNode({ log, runner, nodeId: 'n', topology: { namespace: 'spill' }, spillDir });
    // 12 000 receipts and ends: ~2 MiB each packed, most of it past the slab being filled.
    const workflows = Array.from({ length: 12_000 }, (_, i) =>
      parseWorkflow(chain(runner.rsc, 1, 10 * i)),
    );
    let node = await open();
    const metrics = createNodeMetrics();
    metrics.attach(node);
    const first = await runAll(node, workflows);
    expect(runner.total).toBe(12_000);
    await vi.waitFor(() => expect(node.memo.residentBytes).toBeLessThanOrEqual(1 << 20), {
      timeout: 10_000,
    });
    expect(node.memo.packedBytes).toBeGreaterThan(1.5 * 2 ** 20);
    // What the metrics say of it.
    const text = await metrics.render();
    const gauge = (where: string): number =>
      Number(new RegExp(`^ipvm_memo_bytes\\{where="${where}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    expect(gauge('file')).toBeGreaterThan(2 ** 20 / 2);
    expect(gauge('file')).toBe(node.memo.spilledBytes);
    expect(gauge('memory')).toBeLessThanOrEqual(1 << 20);
    // All it keeps of its history: the ends and the CIDs' bytes are in the file too, the first
    // chunk of each index of CIDs among them (64 KiB each), and what stays in memory is the
    // slabs and chunks being filled and a few numbers a workflow.
    await vi.waitFor(
      () => expect(node.history().file).toBeGreaterThan(node.memo.spilledBytes + 2 * 64 * 1024),
      { timeout: 10_000 },
    );
    const held = node.history();
    const after = await metrics.render();
    const history = (where: string): number =>
      Number(new RegExp(`^ipvm_history_bytes\\{where="${where}"\\} (\\d+)$`, 'm').exec(after)?.[1]);
    expect(history('memory')).toBe(held.memory);
    expect(history('file')).toBe(held.file);
    // (the memo's and the ended registry's slabs being filled, 256 KiB each; two chunks of CIDs
    // per index; tables and columns: ~3.9 MiB here)
    expect(held.memory).toBeLessThan(5 * 2 ** 20);
    // The file is unlinked as soon as it is open: a killed process leaves nothing behind.
    expect(await readdir(spillDir)).toEqual([]);
    // The oldest workflow's end and a memo hit on it, both read back from the file.
    expect((await node.ended(workflows[0]!.cid)).receipts.join(',')).toBe(first[0]);
    expect(await runAll(node, workflows.slice(0, 100))).toEqual(first.slice(0, 100));
    expect(runner.total).toBe(12_000);
    await node.close();

    // Recovery folds the log into a new spill file; a memo hit anywhere in it runs nothing.
    node = await open();
    await vi.waitFor(() => expect(node.memo.residentBytes).toBeLessThanOrEqual(1 << 20), {
      timeout: 10_000,
    });
    const sample = [1, 6_000, 11_999].map((i) => workflows[i]!);
    expect(await runAll(node, sample)).toEqual([first[1], first[6_000], first[11_999]]);
    expect(runner.total).toBe(12_000);
    await node.close();
    await log.close();
    expect(await readdir(spillDir)).toEqual([]);
  });
});
