// While membership views disagree (a node joining or flapping), two nodes may both own a
// workflow and release its tasks, so a task can run on both. That is harmless: a receipt is a
// pure function of its instruction, so both runs give one receipt CID; each node's memo holds
// one receipt per instruction, the workflow ends once with one receipt per task, and the tables
// hold one row per receipt. Two engine nodes on one log, each sure it owns every workflow.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { createNode } from '../../processors/engine/node.ts';
import { createChdbTableStore } from '../../processors/tables/chdb.ts';
import { rebuildTables } from '../../processors/tables/rebuild.ts';
import { tableStreams } from '../../processors/index-tables.ts';
import { decodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { createCoreRunner } from '../harness/core-runner.ts';
import { chain } from '../conformance/engine.suite.ts';

const TASKS = 20;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-views-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('two owners of one workflow (views disagree)', () => {
  it('tasks run twice give one receipt per instruction in memos, ends and tables', async () => {
    const runner = await createCoreRunner();
    const log = createFileLog({ dir: join(dir, 'log') });
    // Both nodes own every workflow: each writes its task/ready events and both draw them.
    const cluster = { owns: () => true, onChange: () => () => {} };
    const topology = { namespace: 'ipvm' };
    const a = await createNode({ log, runner, nodeId: 'a', topology, cluster });
    const b = await createNode({ log, runner, nodeId: 'b', topology, cluster });
    const wf = chain(runner.rsc, TASKS);
    const parsed = parseWorkflow(wf);
    await a.submit(wf);
    const [endA, endB] = await Promise.all([a.ended(parsed.cid), b.ended(parsed.cid)]);
    await a.close();
    await b.close();

    // The receipt records on the log: some tasks were written twice (both owners ran them) …
    const records = new Map<string, ReceiptEvent[]>();
    for await (const r of log.read(a.topology.name('pure'))) {
      const e = decodeEvent(r.value) as ReceiptEvent;
      if (e.type !== 'receipt') continue;
      const key = e.instruction.toString();
      records.set(key, [...(records.get(key) ?? []), e]);
    }
    const twice = [...records.values()].filter((l) => l.length > 1);
    expect(twice.length, 'some task ran twice').toBeGreaterThan(0);
    expect(runner.total).toBeGreaterThan(TASKS);
    // … with one receipt CID per instruction all the same.
    for (const [instruction, list] of records)
      expect(new Set(list.map((e) => e.receipt.toString())).size, instruction).toBe(1);

    for (const [name, end, node] of [
      ['a', endA, a],
      ['b', endB, b],
    ] as const) {
      expect(end.type, name).toBe('workflow/completed');
      expect(end.receipts.length, name).toBe(TASKS);
      expect(new Set(end.receipts.map(String)).size, name).toBe(TASKS);
      parsed.tasks.forEach((t, i) => {
        const receipt = node.memo.get(t.instruction.toString())?.receipt.toString();
        expect(receipt, `${name}: task ${i}`).toBe(
          records.get(t.instruction.toString())![0]!.receipt.toString(),
        );
      });
    }

    // The tables: one row per receipt, however many records carried it.
    await using store = createChdbTableStore({ dataDir: join(dir, 'tables'), database: 'views' });
    await store.migrate();
    await rebuildTables({ log, store, streams: tableStreams(a.topology) });
    const [rows] = await store.query<{ n: number; receipts: number; instructions: number }>(
      'SELECT count() AS n, uniqExact(receipt_cid) AS receipts, uniqExact(instruction_cid) AS instructions FROM receipts FINAL',
    );
    expect(rows).toEqual({ n: TASKS, receipts: TASKS, instructions: TASKS });
    await log.close();
  }, 120_000);
});
