// Several nodes feeding one ClickHouse server: two nodes (each with its own log and id) run the
// same workflow and each node's indexer writes into the same database; a second indexer then
// reads one node's log again. The receipts are the same
// CIDs, so the tables hold one row per receipt (per workflow, executed or replayed) — not one per
// node that wrote it — and so do the lineage and workflow tables.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { createNode } from '../../processors/engine/node.ts';
import { createServerTableStore } from '../../processors/tables/server.ts';
import { catchUpTables } from '../../processors/tables/catch-up.ts';
import { tableStreams } from '../../processors/index-tables.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { createCoreRunner } from '../harness/core-runner.ts';
import { chain } from '../conformance/engine.suite.ts';
import {
  clickhouseUnavailableReason,
  mustNotSkip,
  startClickHouseForTests,
  type ClickHouseForTests,
} from '../harness/clickhouse.ts';

const reason = await clickhouseUnavailableReason();
if (reason !== null && mustNotSkip()) throw new Error(`CI needs a ClickHouse server: ${reason}`);

describe.skipIf(reason !== null)('two nodes’ indexers, one ClickHouse server', () => {
  let server: ClickHouseForTests;
  let dir: string;
  beforeAll(async () => {
    server = await startClickHouseForTests();
    dir = await mkdtemp(join(tmpdir(), 'ipvm-shared-ch-'));
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('one row per receipt, whichever nodes wrote and indexed it', async () => {
    const runner = await createCoreRunner();
    const wf = chain(runner.rsc, 4);
    const parsed = parseWorkflow(wf);
    const database = `shared_${Date.now().toString(36)}_${process.pid}`;
    const receiptCids = new Set<string>();
    let indexers = 0;
    for (const id of ['node-a', 'node-b', 'node-a']) {
      const log = createFileLog({ dir: join(dir, id) });
      const node = await createNode({ log, runner, nodeId: id, topology: { namespace: 'ipvm' } });
      // node-a's log twice: a second indexer (its own consumer) reads the same records again.
      const again = indexers++ === 2;
      if (!again) await node.submit(wf);
      const end = await node.ended(parsed.cid);
      expect(end.type).toBe('workflow/completed');
      for (const r of end.receipts) receiptCids.add(r.toString());
      await node.close();
      // This node's indexer, into the shared server's database.
      const store = createServerTableStore({ url: server.url, database });
      await catchUpTables({
        log,
        store,
        streams: tableStreams(node.topology),
        consumer: again ? 'second-indexer' : undefined,
      });
      await store.close();
      await log.close();
    }
    expect(receiptCids.size).toBe(4); // the same receipts on both nodes

    await using store = createServerTableStore({ url: server.url, database });
    const count = async (sql: string): Promise<number> =>
      Number((await store.query<{ n: number }>(sql))[0]?.n);
    expect(await count('SELECT count() AS n FROM receipts FINAL')).toBe(4);
    expect(await count('SELECT uniqExact(receipt_cid) AS n FROM receipts')).toBe(4);
    expect(await count('SELECT count() AS n FROM workflows FINAL')).toBe(2); // submitted, completed
    const lineage = await count('SELECT count() AS n FROM lineage FINAL');
    // After a merge the duplicates are physically gone too.
    await store.query(`OPTIMIZE TABLE ${database}.receipts FINAL`);
    await store.query(`OPTIMIZE TABLE ${database}.lineage FINAL`);
    expect(await count('SELECT count() AS n FROM receipts')).toBe(4);
    expect(await count('SELECT count() AS n FROM lineage')).toBe(lineage);
    const [memo] = await store.lookupMemo([parsed.tasks[0]!.instruction.toString()]);
    expect(['node-a', 'node-b']).toContain(memo?.executor);
  }, 120_000);
});
