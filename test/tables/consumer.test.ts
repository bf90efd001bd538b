// Which consumer a table store's indexers commit under: shared where the positions belong to
// the tables (a file log in the same data directory, a ClickHouse server's one set of tables),
// a name of the data directory's own beside a broker log.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONSUMER_FILE, tablesConsumer } from '../../processors/tables/index.ts';

const base = mkdtempSync(join(tmpdir(), 'ipvm-tables-consumer-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('tablesConsumer', () => {
  it('shares the name on a file log and for a server', () => {
    const dataDir = join(base, 'shared');
    expect(tablesConsumer({ kind: 'chdb' }, { dataDir })).toBe('ipvm-tables');
    expect(tablesConsumer({ kind: 'chdb' }, { backend: 'file', dataDir })).toBe('ipvm-tables');
    expect(tablesConsumer({ kind: 'server' }, { backend: 'kafka', dataDir })).toBe('ipvm-tables');
  });

  it('gives embedded tables beside a broker a name of their own, kept in the data directory', () => {
    const a = join(base, 'a');
    const first = tablesConsumer({ kind: 'chdb' }, { backend: 'nats', dataDir: a });
    expect(first).toMatch(/^ipvm-tables-[0-9a-f]{12}$/);
    expect(readFileSync(join(a, CONSUMER_FILE), 'utf8').trim()).toBe(first);
    expect(tablesConsumer({ kind: 'chdb' }, { backend: 'kafka', dataDir: a })).toBe(first);
    const other = tablesConsumer({ kind: 'chdb' }, { backend: 'nats', dataDir: join(base, 'b') });
    expect(other).not.toBe(first);
  });
});
