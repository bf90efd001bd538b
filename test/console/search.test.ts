// Memo search answered from the ClickHouse `receipts` table (embedded chdb) and from the
// in-process memo: the same hits for the same receipts, whichever answers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cidOf } from '../../schemas/cid.ts';
import { createMemo } from '../../processors/engine/memo.ts';
import { createMemoSearch, type MemoHit } from '../../processors/api/console-search.ts';
import { createChdbTableStore } from '../../processors/tables/chdb.ts';
import { receiptEventToRows } from '../../processors/tables/rows.ts';
import type { TableStore } from '../../processors/tables/table-store.ts';
import { makeReceiptEvent } from '../tables/make-events.ts';

const root = mkdtempSync(join(tmpdir(), 'ipvm-console-search-'));
let store: TableStore;
const events = [
  makeReceiptEvent({ i: 1, func: 'add' }),
  makeReceiptEvent({ i: 2, func: 'mul' }),
  makeReceiptEvent({ i: 3, func: 'mul', error: true }),
  // Same output as i = 1 (2), from another function: the reverse lookup finds both.
  { ...makeReceiptEvent({ i: 1, func: 'double' }) },
];
const memo = createMemo();
for (const e of events) memo.put(e);

beforeAll(async () => {
  store = createChdbTableStore({ dataDir: root, database: 'console_search' });
  await store.migrate();
  await store.insertReceipts(events.map((e) => receiptEventToRows(e).receipt));
});

afterAll(async () => {
  await store?.close();
  rmSync(root, { recursive: true, force: true });
});

const sorted = (hits: MemoHit[]): MemoHit[] =>
  [...hits].sort((a, b) => a.instruction.localeCompare(b.instruction));

describe.each([
  ['tables', () => createMemoSearch({ memo: createMemo(), tables: store })],
  ['memo', () => createMemoSearch({ memo })],
])('memo search from the %s', (source, make) => {
  it('finds by instruction, receipt and output CID, and by function name', async () => {
    const search = make();
    const [add, mul, mulError, double] = events;
    const byInstruction = await search.search(mul!.instruction.toString());
    expect(byInstruction.source).toBe(source);
    expect(byInstruction.hits).toEqual([
      {
        match: 'instruction',
        instruction: mul!.instruction.toString(),
        receipt: mul!.receipt.toString(),
        outputCid: cidOf(4).toString(),
        func: 'mul',
        outcome: 'ok',
      },
    ]);
    const byReceipt = await search.search(mulError!.receipt.toString());
    expect(byReceipt.hits.map((h) => [h.match, h.instruction, h.outcome])).toEqual([
      ['receipt', mulError!.instruction.toString(), 'error'],
    ]);
    const byOutput = await search.search(cidOf(2).toString());
    const producers = [add!, double!].map((e) => e.instruction.toString()).sort();
    expect(sorted(byOutput.hits).map((h) => [h.match, h.instruction])).toEqual(
      producers.map((i) => ['output', i]),
    );
    const byFunction = await search.search('mul');
    expect(byFunction.hits.map((h) => h.outcome).sort()).toEqual(['error', 'ok']);
    expect((await search.search('nothing_here')).hits).toEqual([]);
  });

  it('refuses a query that is neither a CID nor a function name', async () => {
    await expect(make().search("mul' OR 1=1 --")).rejects.toThrow(/neither a CID nor a function/);
  });
});
