// The table indexer on the real embedded file log (streams/file): live indexing, a restart,
// and a rebuild from offset 0 giving the same rows.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cidOf } from '../../schemas/cid.ts';
import { encodeEvent, type NodeEvent } from '../../schemas/events.ts';
import { createFileLog } from '../../streams/file/index.ts';
import { createTopology } from '../../streams/topology.ts';
import { indexTables, tableStreams } from '../../processors/index-tables.ts';
import { createChdbTableStore } from '../../processors/tables/chdb.ts';
import { rebuildTables } from '../../processors/tables/rebuild.ts';
import type { TableStore } from '../../processors/tables/table-store.ts';
import { makeEnded, makeReceiptEvent, makeSubmitted } from './make-events.ts';

const root = mkdtempSync(join(tmpdir(), 'ipvm-indexer-file-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const topology = createTopology({ namespace: 'ft' });
const streams = tableStreams(topology);

const rowsOf = async (store: TableStore) => ({
  receipts: await store.query('SELECT * FROM receipts FINAL ORDER BY instruction_cid, replayed'),
  lineage: await store.query(
    'SELECT * FROM lineage FINAL ORDER BY input_cid, instruction_cid, path',
  ),
  workflows: await store.query('SELECT * FROM workflow_status'),
});

describe('table indexer on the file log', () => {
  it('indexes live, resumes after a restart, and rebuilds to the same rows', async () => {
    const log = createFileLog({ dir: join(root, 'log'), fsync: 'none' });
    const store = createChdbTableStore({ dataDir: root });
    try {
      await log.ensureStreams(topology.streams);
      await store.migrate();
      const wf = cidOf({ wf: 'file' });
      const receipts = Array.from({ length: 40 }, (_, i) =>
        makeReceiptEvent({ i, workflow: wf, func: i % 2 ? 'even' : 'odd', at: 1000 + i }),
      );
      const put = async (stream: string, events: NodeEvent[]) =>
        log.append(
          stream,
          events.map((e) => ({
            key: e.type === 'receipt' ? e.instruction.toString() : wf.toString(),
            value: encodeEvent(e),
          })),
        );
      await put(topology.name('invocations'), [makeSubmitted(wf, 40, 1)]);
      await put(topology.name('pure'), receipts.slice(0, 25));

      const run = async (expected: number) => {
        const indexer = indexTables({ log, store, streams, batchSize: 8, flushIntervalMs: 5 });
        const ac = new AbortController();
        const running = indexer.run({ signal: ac.signal });
        for (let i = 0; i < 1000 && indexer.stats().records < expected; i++) {
          await new Promise((r) => setTimeout(r, 10));
        }
        ac.abort();
        await running;
        return indexer.stats();
      };
      expect(await run(26)).toMatchObject({ records: 26, receipts: 25, workflows: 1 });

      await put(topology.name('pure'), receipts.slice(25));
      await put(topology.name('invocations'), [
        makeEnded(
          wf,
          receipts.map((r) => r.receipt),
          [],
          2,
        ),
      ]);
      // Only the new records: positions were committed after the inserts.
      expect(await run(16)).toMatchObject({ records: 16, receipts: 15, workflows: 1 });

      const live = await rowsOf(store);
      expect(live.receipts).toHaveLength(40);
      expect(live.workflows).toMatchObject([{ status: 'completed', tasks: 40, receipts: 40 }]);

      const stats = await rebuildTables({ log, store, streams, batchSize: 16 });
      expect(stats).toMatchObject({ records: 42, receipts: 40, workflows: 2, undecodable: 0 });
      expect(await rowsOf(store)).toEqual(live);
      // The live indexer continues where the rebuild stopped (offsets are dense from 0, so the
      // committed positions of a stream add up to its record count).
      const sum = async (stream: string) =>
        Object.values(await log.committed('ipvm-tables', stream)).reduce((a, b) => a + b, 0);
      expect(await sum(topology.name('pure'))).toBe(40);
      expect(await sum(topology.name('invocations'))).toBe(2);
    } finally {
      await store.close();
      await log.close();
    }
  });
});
