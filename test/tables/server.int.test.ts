// The server adapter against the conformance suite, on a real ClickHouse server (see
// test/harness/clickhouse.ts for where it comes from). Each test gets its own database.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createServerTableStore } from '../../processors/tables/server.ts';
import { describeTableStore } from '../conformance/table-store.suite.ts';
import {
  clickhouseUnavailableReason,
  mustNotSkip,
  startClickHouseForTests,
  type ClickHouseForTests,
} from '../harness/clickhouse.ts';

const reason = await clickhouseUnavailableReason();
if (reason !== null && mustNotSkip()) throw new Error(`CI needs a ClickHouse server: ${reason}`);

if (reason !== null) {
  describe.skip(`table store conformance: server (${reason})`, () => {
    it('needs a server', () => {});
  });
} else {
  let server: ClickHouseForTests;
  beforeAll(async () => {
    server = await startClickHouseForTests();
  });
  afterAll(async () => {
    await server?.stop();
  });
  let n = 0;
  const run = `t${Date.now().toString(36)}${process.pid}`;
  describeTableStore('server', () =>
    Promise.resolve(createServerTableStore({ url: server.url, database: `${run}_${n++}` })),
  );
}
