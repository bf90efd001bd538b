// `ipvm sql` end to end over the embedded tables: formats, data-dir, errors.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerSql } from '../../cli/commands/sql.ts';
import { createChdbTableStore } from '../../processors/tables/chdb.ts';
import { receiptEventToRows } from '../../processors/tables/rows.ts';
import { TableQueryError } from '../../processors/tables/errors.ts';
import { makeReceiptEvent } from './make-events.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'ipvm-sql-cli-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

beforeAll(async () => {
  await using store = createChdbTableStore({ dataDir });
  await store.migrate();
  const rows = [1, 2, 3].map((i) =>
    receiptEventToRows(makeReceiptEvent({ i, func: i === 3 ? 'mul' : 'add' })),
  );
  await store.insertReceipts(rows.map((r) => r.receipt));
});

async function sql(...args: string[]): Promise<string> {
  let out = '';
  const program = new Command('ipvm').exitOverride();
  registerSql(program, { write: (t) => (out += t), env: {} });
  await program.parseAsync(['node', 'ipvm', 'sql', ...args]);
  return out;
}

const Q = 'SELECT function, count() AS n FROM receipts FINAL GROUP BY function ORDER BY function';

describe('ipvm sql', () => {
  it('prints a text table by default', async () => {
    const out = await sql(Q, '--data-dir', dataDir);
    expect(out).toMatch(/function/);
    expect(out).toMatch(/add +│ +2/);
  });

  it('prints json and csv', async () => {
    expect(JSON.parse(await sql(Q, '--format', 'json', '--data-dir', dataDir))).toEqual([
      { function: 'add', n: 2 },
      { function: 'mul', n: 1 },
    ]);
    expect(await sql('--format', 'csv', '--data-dir', dataDir, Q)).toBe(
      '"function","n"\n"add",2\n"mul",1\n',
    );
  });

  it('answers with empty tables on a fresh data dir', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'ipvm-sql-fresh-'));
    try {
      expect(
        JSON.parse(
          await sql('SELECT count() AS n FROM lineage', '--format', 'json', '--data-dir', fresh),
        ),
      ).toEqual([{ n: 0 }]);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  it('rejects a bad format and reports SQL errors as terminal', async () => {
    await expect(sql(Q, '--format', 'xml', '--data-dir', dataDir)).rejects.toThrow(/xml/);
    await expect(sql('SELECT * FROM nope', '--data-dir', dataDir)).rejects.toBeInstanceOf(
      TableQueryError,
    );
  });
});
