// The embedded adapter against the conformance suite. chdb opens one data directory per
// process, so each store gets its own temp dir and is closed before the next opens.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { createChdbTableStore } from '../../processors/tables/chdb.ts';
import { describeTableStore } from '../conformance/table-store.suite.ts';

const root = mkdtempSync(join(tmpdir(), 'ipvm-chdb-suite-'));
let n = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

describeTableStore('chdb', () =>
  Promise.resolve(createChdbTableStore({ dataDir: join(root, String(n++)) })),
);
