// The table-store conformance suite: every adapter (embedded chdb, ClickHouse server) must pass
// it unchanged. `make()` returns a fresh, empty store (its own data dir or database).
import { describe, expect, it } from 'vitest';
import { cidOf } from '../../schemas/cid.ts';
import {
  COMPUTED_FROM_INPUT,
  MEMO_HIT_RATE_BY_FUNCTION,
  SLOWEST_FUNCTIONS,
  WORKFLOW_RECEIPTS,
  WORKFLOW_STATUS,
  withCid,
} from '../../schemas/clickhouse/queries.ts';
import { capabilitiesFor } from '../../schemas/clickhouse/ddl.ts';
import {
  InvalidCidError,
  TableQueryError,
  TableStoreClosedError,
} from '../../processors/tables/errors.ts';
import type { TableStoreError } from '../../processors/tables/errors.ts';
import { receiptEventToRows, workflowEventToRow } from '../../processors/tables/rows.ts';
import { mismatchRow } from '../../processors/tables/mismatches.ts';
import type { ReceiptRow, TableStore } from '../../processors/tables/table-store.ts';
import { makeEnded, makeReceiptEvent, makeSubmitted, WASM, WASM2 } from '../tables/make-events.ts';

const byReceipt = (a: ReceiptRow, b: ReceiptRow): number =>
  a.instruction_cid < b.instruction_cid ? -1 : a.instruction_cid > b.instruction_cid ? 1 : 0;

/** A small history: a 3-task workflow (one failure), replays, and a single task. */
function history() {
  const wf = cidOf({ workflow: 'w1' });
  const data = cidOf({ data: 'input block' });
  const a = makeReceiptEvent({ i: 1, func: 'add', workflow: wf, links: [data], at: 1000 });
  const b = makeReceiptEvent({ i: 2, func: 'mul', workflow: wf, awaits: a.instruction, at: 2000 });
  const c = makeReceiptEvent({
    i: 3,
    func: 'div',
    workflow: wf,
    awaits: b.instruction,
    error: true,
    at: 3000,
    resource: WASM2,
  });
  const single = makeReceiptEvent({ i: 4, func: 'add', at: 4000, durationMs: null, fuel: null });
  const replayA = { ...a, replayed: true, executor: 'node-b', at: 5000, durationMs: 0, fuel: 0 };
  const receipts = [a, b, c, single, replayA];
  const workflows = [
    makeSubmitted(wf, 3, 500),
    makeEnded(wf, [a.receipt, b.receipt, c.receipt], [c.instruction], 3500),
  ];
  return { wf, data, a, b, c, single, replayA, receipts, workflows };
}

async function load(store: TableStore, h: ReturnType<typeof history>): Promise<void> {
  const rows = h.receipts.map(receiptEventToRows);
  await store.insertReceipts(rows.map((r) => r.receipt));
  await store.insertLineage(rows.flatMap((r) => r.lineage));
  await store.upsertWorkflows(h.workflows.map(workflowEventToRow));
}

/** Whether the store's engine has DateTime64 (20.x and later; the 18.16 server has not). */
async function dateTime64(store: TableStore): Promise<boolean> {
  const [v] = await store.query<{ v: string }>('SELECT version() AS v');
  return capabilitiesFor(v?.v ?? '0').dateTime64;
}

export function describeTableStore(name: string, make: () => Promise<TableStore>): void {
  describe(`table store conformance: ${name}`, () => {
    it('migrate is idempotent and creates the tables', async () => {
      await using store = await make();
      await store.migrate();
      await store.migrate();
      const tables = await store.query<{ name: string }>(
        `SELECT name FROM system.tables WHERE database = '${store.database}' ORDER BY name`,
      );
      expect(tables.map((t) => t.name)).toEqual([
        'lineage',
        'receipts',
        'verification_mismatches',
        'workflow_status',
        'workflows',
      ]);
    });

    it('stores receipt rows exactly as given', async () => {
      await using store = await make();
      await store.migrate();
      const h = history();
      await load(store, h);
      const expected = h.receipts.map((e) => receiptEventToRows(e).receipt).sort(byReceipt);
      const got = await store.query<ReceiptRow>(
        'SELECT * FROM receipts FINAL ORDER BY instruction_cid, replayed',
      );
      expect(got).toEqual(expected.sort((x, y) => byReceipt(x, y) || x.replayed - y.replayed));
      const [row] = await store.query<{ at: string }>(
        `SELECT toString(at) AS at FROM receipts WHERE at_ms = 1000`,
      );
      const modern = await dateTime64(store);
      expect(row?.at).toBe(modern ? '1970-01-01 00:00:01.000' : '1970-01-01 00:00:01');
    });

    it('gives analysts every timestamp as a time: DateTime64(3) where the engine has it', async () => {
      await using store = await make();
      await store.migrate();
      const wf = cidOf({ workflow: 'timed' });
      const e = makeReceiptEvent({ i: 9, func: 'add', workflow: wf, at: 1_234 });
      await store.insertReceipts([receiptEventToRows(e).receipt]);
      await store.upsertWorkflows([workflowEventToRow(makeSubmitted(wf, 1, 2_345))]);
      const modern = await dateTime64(store);
      const type = modern ? "DateTime64(3, 'UTC')" : "DateTime('UTC')";
      for (const [table, text] of [
        ['receipts', modern ? '1970-01-01 00:00:01.234' : '1970-01-01 00:00:01'],
        ['workflows', modern ? '1970-01-01 00:00:02.345' : '1970-01-01 00:00:02'],
      ] as const) {
        const [row] = await store.query<{ t: string; s: string }>(
          `SELECT toTypeName(at) AS t, toString(at) AS s FROM ${table}`,
        );
        expect({ table, ...row }).toEqual({ table, t: type, s: text });
      }
      const [m] = await store.query<{ t: string }>(
        `SELECT type AS t FROM system.columns WHERE database = '${store.database}' ` +
          "AND table = 'verification_mismatches' AND name = 'at'",
      );
      expect(m?.t).toBe(type);
    });

    it('takes rows serialised as JSONEachRow, the same as typed rows', async () => {
      await using store = await make();
      await store.migrate();
      const h = history();
      const rows = h.receipts.map(receiptEventToRows);
      const text = (xs: object[]): string => xs.map((x) => JSON.stringify(x) + '\n').join('');
      await store.insertJsonEachRow('receipts', text(rows.map((r) => r.receipt)));
      await store.insertJsonEachRow('lineage', text(rows.flatMap((r) => r.lineage)));
      await store.insertJsonEachRow('workflows', text(h.workflows.map(workflowEventToRow)));
      await store.insertJsonEachRow('receipts', '');
      const got = await store.query<ReceiptRow>(
        'SELECT * FROM receipts FINAL ORDER BY instruction_cid, replayed',
      );
      expect(got).toEqual(
        rows.map((r) => r.receipt).sort((x, y) => byReceipt(x, y) || x.replayed - y.replayed),
      );
      const [n] = await store.query<{ n: number }>('SELECT count() AS n FROM lineage FINAL');
      expect(n?.n).toBe(new Set(rows.flatMap((r) => r.lineage.map((l) => JSON.stringify(l)))).size);
      const bad = await store
        .insertJsonEachRow('nope' as 'receipts', '{}')
        .catch((e: unknown) => e);
      expect((bad as TableStoreError).retryable).toBe(false);
    });

    it('keeps verification mismatches for analysts', async () => {
      await using store = await make();
      await store.migrate();
      const row = mismatchRow({
        type: 'verification/mismatch',
        kind: 'optimistic',
        instruction: cidOf({ i: 'mismatch' }),
        receipt: null,
        rsc: `ipfs://${WASM.toString()}`,
        func: 'now',
        executions: [
          { executor: 'n#1', outcome: 'ok', output: cidOf(1) },
          { executor: 'n#2', outcome: 'ok', output: cidOf(2) },
        ],
        reason: 'disagree',
        at: 7000,
      });
      await store.insertJsonEachRow('verification_mismatches', JSON.stringify(row));
      await store.insertJsonEachRow('verification_mismatches', JSON.stringify(row));
      const rows = await store.query(
        'SELECT instruction_cid, kind, executors, output_cids, at_ms FROM verification_mismatches FINAL',
      );
      expect(rows).toEqual([
        {
          instruction_cid: row.instruction_cid,
          kind: 'optimistic',
          executors: ['n#1', 'n#2'],
          output_cids: [cidOf(1).toString(), cidOf(2).toString()],
          at_ms: 7000,
        },
      ]);
    });

    it('re-indexing the same rows changes nothing', async () => {
      await using store = await make();
      await store.migrate();
      const h = history();
      await load(store, h);
      const snapshot = async () => ({
        receipts: await store.query(
          'SELECT * FROM receipts FINAL ORDER BY instruction_cid, replayed',
        ),
        lineage: await store.query(
          'SELECT * FROM lineage FINAL ORDER BY input_cid, instruction_cid, path',
        ),
        workflows: await store.query('SELECT * FROM workflow_status ORDER BY workflow_cid'),
      });
      const before = await snapshot();
      await load(store, h);
      await load(store, h);
      expect(await snapshot()).toEqual(before);
      // After a merge the duplicates are physically gone too.
      await store.query(`OPTIMIZE TABLE ${store.database}.receipts FINAL`);
      const [n] = await store.query<{ n: number }>('SELECT count() AS n FROM receipts');
      expect(n?.n).toBe(h.receipts.length);
    });

    it('looks up many instructions in one batch, preferring executed receipts', async () => {
      await using store = await make();
      await store.migrate();
      const h = history();
      await load(store, h);
      const absent = cidOf({ never: 'ran' }).toString();
      const hits = await store.lookupMemo([
        h.a.instruction.toString(),
        absent,
        h.c.instruction.toString(),
        h.a.instruction.toString(),
      ]);
      expect(hits.map((x) => x.instruction_cid).sort()).toEqual(
        [h.a.instruction.toString(), h.c.instruction.toString()].sort(),
      );
      const a = hits.find((x) => x.instruction_cid === h.a.instruction.toString());
      expect(a).toEqual({
        instruction_cid: h.a.instruction.toString(),
        receipt_cid: h.a.receipt.toString(),
        invocation_cid: h.a.invocation.toString(),
        outcome: 'ok',
        output: '2',
        output_cid: cidOf(2).toString(),
        executor: 'node-a',
        at_ms: 1000,
      });
      const c = hits.find((x) => x.instruction_cid === h.c.instruction.toString());
      expect(c?.outcome).toBe('error');
      expect(JSON.parse(c?.output ?? 'null')).toEqual({ message: 'trap 3' });
      expect(await store.lookupMemo([])).toEqual([]);
    });

    it('rejects a lookup key that is not a CID', async () => {
      await using store = await make();
      await store.migrate();
      const err = await store.lookupMemo(["x' OR 1=1 --"]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidCidError);
      expect((err as InvalidCidError).retryable).toBe(false);
      expect((err as InvalidCidError).field).toBe('instructionCids[0]');
    });

    it('answers the reverse lookup: everything computed from an input', async () => {
      await using store = await make();
      await store.migrate();
      const h = history();
      await load(store, h);
      const fromData = await store.query<{ instruction_cid: string; role: string; path: string }>(
        withCid(COMPUTED_FROM_INPUT, h.data.toString()),
      );
      expect(fromData).toMatchObject([
        { instruction_cid: h.a.instruction.toString(), role: 'arg', path: 'args/1/data' },
      ]);
      // The awaited instruction is an input of the task that awaited it.
      const fromA = await store.query<{ instruction_cid: string; path: string }>(
        withCid(COMPUTED_FROM_INPUT, h.a.instruction.toString()),
      );
      expect(fromA).toMatchObject([
        { instruction_cid: h.b.instruction.toString(), path: 'args/1/await/ok' },
      ]);
      const fromWasm = await store.query<{ instruction_cid: string }>(
        withCid(COMPUTED_FROM_INPUT, WASM.toString()),
      );
      expect(fromWasm.map((r) => r.instruction_cid).sort()).toEqual(
        [h.a, h.b, h.single].map((e) => e.instruction.toString()).sort(),
      );
    });

    it('folds workflow lifecycle rows into a status', async () => {
      await using store = await make();
      await store.migrate();
      const h = history();
      await load(store, h);
      const other = cidOf({ workflow: 'w2' });
      await store.upsertWorkflows([workflowEventToRow(makeSubmitted(other, 2, 10))]);
      expect(await store.query(withCid(WORKFLOW_STATUS, h.wf.toString()))).toEqual([
        {
          workflow_cid: h.wf.toString(),
          status: 'failed',
          tasks: 3,
          receipts: 3,
          failed_count: 1,
          submitted_at_ms: 500,
          ended_at_ms: 3500,
        },
      ]);
      const [running] = await store.query<{ status: string; tasks: number }>(
        withCid(WORKFLOW_STATUS, other.toString()),
      );
      expect(running).toMatchObject({ status: 'running', tasks: 2 });
    });

    it('runs the documented example queries', async () => {
      await using store = await make();
      await store.migrate();
      const h = history();
      await load(store, h);
      expect(await store.query(MEMO_HIT_RATE_BY_FUNCTION)).toEqual([
        { function: 'add', receipts: 3, hits: 1, hit_rate: 0.333 },
        { function: 'div', receipts: 1, hits: 0, hit_rate: 0 },
        { function: 'mul', receipts: 1, hits: 0, hit_rate: 0 },
      ]);
      const slow = await store.query<{ function: string; runs: number }>(SLOWEST_FUNCTIONS);
      expect(slow.map((r) => [r.function, r.runs])).toEqual([
        ['div', 1],
        ['mul', 1],
        ['add', 1],
      ]);
      const wf = await store.query<{ receipt_cid: string; replayed: number }>(
        withCid(WORKFLOW_RECEIPTS, h.wf.toString()),
      );
      expect(wf.map((r) => r.receipt_cid)).toEqual([
        h.a.receipt.toString(),
        h.b.receipt.toString(),
        h.c.receipt.toString(),
        h.a.receipt.toString(),
      ]);
      expect(wf.map((r) => r.replayed)).toEqual([0, 0, 0, 1]);
    });

    it('formats results as csv and as a text table', async () => {
      await using store = await make();
      await store.migrate();
      await load(store, history());
      const sql =
        'SELECT function, count() AS n FROM receipts FINAL GROUP BY function ORDER BY function';
      expect(await store.query(sql, { format: 'csv' })).toBe(
        '"function","n"\n"add",3\n"div",1\n"mul",1\n',
      );
      const table = await store.query(sql, { format: 'table' });
      expect(table).toMatch(/function/);
      expect(table).toMatch(/│ add +│ +3 │/);
      expect(table).not.toContain('\u001b[');
    });

    it('reports a bad statement as a terminal query error', async () => {
      await using store = await make();
      await store.migrate();
      const err = await store.query('SELECT (1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TableQueryError);
      expect((err as TableQueryError).retryable).toBe(false);
      expect((err as TableQueryError).code).toBe(62);
      const missing = await store.query('SELECT * FROM no_such_table').catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(TableQueryError);
      expect((missing as TableQueryError).code).toBe(60);
    });

    it('honours an aborted signal', async () => {
      await using store = await make();
      await store.migrate();
      const err = await store
        .query('SELECT 1', { signal: AbortSignal.abort() })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).name).toMatch(/Abort|TableStore/);
    });

    it('drops and recreates the tables', async () => {
      await using store = await make();
      await store.migrate();
      await load(store, history());
      await store.dropTables();
      await store.migrate();
      const [n] = await store.query<{ n: number }>('SELECT count() AS n FROM receipts');
      expect(n?.n).toBe(0);
    });

    it('rejects every call after close', async () => {
      const store = await make();
      await store.migrate();
      await store.close();
      await store.close();
      for (const call of [
        () => store.query('SELECT 1'),
        () => store.lookupMemo([WASM.toString()]),
        () => store.insertReceipts([receiptEventToRows(history().a).receipt]),
        () => store.migrate(),
      ]) {
        const err = await call().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(TableStoreClosedError);
        expect((err as TableStoreError).retryable).toBe(false);
      }
    });
  });
}
