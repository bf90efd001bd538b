/**
 * The consumer name under which the indexers of a table store (live, catch-up, rebuild,
 * verification mismatches) commit their positions in the log.
 *
 * A data directory's embedded tables beside a broker log (Kafka, NATS) get a name of their
 * own, kept in `<dataDir>/tables-consumer`: the broker's positions are shared by every client
 * of the namespace, and positions another data directory's tables committed say nothing about
 * these (under one shared name, `ipvm sql` on a second data directory indexed nothing, and
 * nodes with `--tables` split the partitions between their tables). A file log lives in the
 * data directory itself, and a ClickHouse server's tables are one set however many nodes
 * index them: both keep the shared {@link DEFAULT_CONSUMER}.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CONSUMER } from '../index-tables.ts';
import type { TableStore } from './table-store.ts';

/** File of a data directory that holds its tables' consumer name (broker logs only). */
export const CONSUMER_FILE = 'tables-consumer';

/** The consumer name of `store`'s indexers, for a log on `backend` (default file). */
export function tablesConsumer(
  store: Pick<TableStore, 'kind'>,
  place: { backend?: string; dataDir: string },
): string {
  if (store.kind !== 'chdb' || (place.backend ?? 'file') === 'file') return DEFAULT_CONSUMER;
  const file = join(place.dataDir, CONSUMER_FILE);
  const read = (): string | undefined => {
    try {
      return readFileSync(file, 'utf8').trim() || undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  };
  const known = read();
  if (known !== undefined) return known;
  mkdirSync(place.dataDir, { recursive: true });
  const name = `${DEFAULT_CONSUMER}-${randomBytes(6).toString('hex')}`;
  try {
    writeFileSync(file, `${name}\n`, { flag: 'wx' });
    return name;
  } catch (err) {
    // another process (a node and `ipvm sql`) named them first: take its name
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return read() ?? name;
    throw err;
  }
}
