// The README's example queries are the ones the conformance suite runs.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as queries from '../../schemas/clickhouse/queries.ts';

describe('schemas/clickhouse/README.md', () => {
  const readme = readFileSync(
    new URL('../../schemas/clickhouse/README.md', import.meta.url),
    'utf8',
  );
  for (const [name, sql] of Object.entries(queries)) {
    if (typeof sql !== 'string') continue;
    it(`quotes ${name} verbatim`, () => {
      expect(readme).toContain('```sql\n' + sql + '\n```');
    });
  }
});
