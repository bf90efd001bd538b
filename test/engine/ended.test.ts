// The registry of ended workflows: what it answers (the latest end of each workflow, none
// once it is submitted again), that ends replaced by re-runs do not pile up in memory, and
// that it shares the engine's index of workflows with the memo and the body positions.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { cidOf } from '../../schemas/cid.ts';
import { encodeEvent, type WorkflowEndedEvent } from '../../schemas/events.ts';
import { createEndedRegistry } from '../../processors/engine/ended.ts';
import { KeyIndex } from '../../processors/engine/key-index.ts';
import { createMemo } from '../../processors/engine/memo.ts';
import { BodyPositions } from '../../processors/engine/submission-body.ts';

function end(n: number, run: number): WorkflowEndedEvent {
  return {
    type: run % 2 === 0 ? 'workflow/completed' : 'workflow/failed',
    workflow: cidOf({ workflow: n }),
    receipts: [cidOf({ receipt: n, run })],
    failed: run % 2 === 0 ? [] : [cidOf({ instruction: n })],
    reason: run % 2 === 0 ? null : `run ${run}`,
    at: 1_700_000_000_000 + run,
  };
}

describe('the ended registry', () => {
  it('answers the latest end of each workflow, and none while it runs again', () => {
    const ended = createEndedRegistry();
    const first = end(1, 0);
    const key = first.workflow.toString();
    const bytes = encodeEvent(first);
    ended.note(first, bytes);
    bytes.fill(0); // kept as a copy
    expect(ended.get(key)).toEqual(first);
    ended.note({
      type: 'workflow/submitted',
      workflow: first.workflow,
      body: null,
      name: null,
      at: 1,
    });
    expect(ended.has(key)).toBe(false);
    const second = end(1, 1);
    ended.set(key, second); // a decoded event is kept as it is
    expect(ended.get(key)).toBe(second);
    ended.set(key, encodeEvent(end(1, 2)));
    expect(ended.get(key)).toEqual(end(1, 2));
    ended.delete(key);
    expect(ended.get(key)).toBeUndefined();
  });

  it.each([
    ['in memory', false, 2_000, 30],
    // more live ends than one slab holds, so that most are in the file
    ['in a spill file', true, 8_000, 8],
  ])(
    'keeps %s about twice what the live ends take, however often they are replaced',
    async (_, spill, workflows, runs) => {
      const dir = mkdtempSync(join(tmpdir(), 'ipvm-ended-'));
      const ended = createEndedRegistry({ spillDir: spill ? dir : undefined });
      for (let run = 0; run < runs; run++) {
        let live = 0;
        for (let n = 0; n < workflows; n++) {
          const e = end(n, run);
          const bytes = encodeEvent(e);
          live += bytes.length + 4;
          if (n % 3 === 0)
            ended.note({
              type: 'workflow/submitted',
              workflow: e.workflow,
              body: null,
              name: null,
              at: run,
            });
          ended.note(e, bytes);
        }
        // (a compaction started in this round finishes over the next turns of the event loop)
        const bound = Math.max(2 * live, live + (1 << 20)) + 1024;
        await vi.waitFor(() => expect(ended.heldBytes).toBeLessThanOrEqual(bound), {
          interval: 1,
        });
      }
      // With a spill file, only the slab being filled stays in memory (compactions read the rest
      // back from the file).
      if (spill) {
        expect(ended.heldBytes).toBeGreaterThan(1.5 * 2 ** 20);
        await vi.waitFor(() => expect(ended.residentBytes).toBeLessThanOrEqual(1 << 20), {
          timeout: 10_000,
        });
      } else expect(ended.residentBytes).toBeGreaterThanOrEqual(ended.heldBytes);
      for (let n = 0; n < workflows; n++)
        expect(ended.get(end(n, runs - 1).workflow.toString())).toEqual(end(n, runs - 1));
      ended.close();
      rmSync(dir, { recursive: true });
    },
  );

  it('compacts a turn of the event loop at a time, answering from both generations meanwhile', async () => {
    const ended = createEndedRegistry();
    const workflows = 12_000; // three compaction chunks
    const key = (n: number): string => end(n, 0).workflow.toString();
    for (let n = 0; n < workflows; n++) ended.set(key(n), encodeEvent(end(n, 0)));
    const live = ended.heldBytes;
    // Replacing every end (by one of the same size) starts a compaction at the last: the
    // replaced ones then take as much as the live ones.
    for (let n = 0; n < workflows; n++) ended.set(key(n), encodeEvent(end(n, 2)));
    // Started, not finished: the old slabs are still held beside the first copies.
    const during = ended.heldBytes;
    expect(during).toBeGreaterThan(2 * live);
    // Meanwhile every end is answered, and new ends and removals land in the new generation.
    for (let n = 0; n < workflows; n++) expect(ended.get(key(n))).toEqual(end(n, 2));
    ended.set(key(0), encodeEvent(end(0, 3)));
    ended.delete(key(1));
    await vi.waitFor(() => expect(ended.heldBytes).toBeLessThan(during / 2), { interval: 1 });
    expect(ended.get(key(0))).toEqual(end(0, 3));
    expect(ended.has(key(1))).toBe(false);
    for (let n = 2; n < workflows; n++) expect(ended.get(key(n))).toEqual(end(n, 2));
  });

  it('shares one index of workflows with the body positions and the memo, and compacts over the ids without an end', async () => {
    const workflows = new KeyIndex();
    const ended = createEndedRegistry({ workflows });
    const bodies = new BodyPositions(workflows);
    const memo = createMemo({ workflows });
    const key = (n: number): string => end(n, 0).workflow.toString();
    // Every other workflow numbered in the shared index without an end: a body, a receipt.
    for (let n = 0; n < 20_000; n++) {
      if (n % 2 === 0) ended.set(key(n), encodeEvent(end(n, 0)));
      else bodies.set(key(n), 3, n);
    }
    memo.putLazy(
      { instruction: 'bafyinstruction', workflow: key(1), outcome: 'ok' },
      Uint8Array.of(1),
    );
    expect(workflows.size).toBe(20_000); // each workflow held once
    const live = ended.heldBytes;
    for (let n = 0; n < 20_000; n += 2) ended.set(key(n), encodeEvent(end(n, 2)));
    await vi.waitFor(() => expect(ended.heldBytes).toBeLessThan(1.5 * live), { interval: 1 });
    for (let n = 0; n < 20_000; n++) {
      if (n % 2 === 0) expect(ended.get(key(n))).toEqual(end(n, 2));
      else {
        expect(ended.has(key(n))).toBe(false);
        expect(bodies.get(key(n))).toEqual({ partition: 3, offset: n });
      }
    }
    expect(memo.written('bafyinstruction', key(1))).toBe(true);
    expect(memo.written('bafyinstruction', key(3))).toBe(false);
    expect(bodies.get(key(0))).toBeUndefined();
  });
});
