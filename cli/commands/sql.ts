// `ipvm sql "QUERY" [--format table|json|csv] [--data-dir D] [--clickhouse-url URL]`: run
// ClickHouse SQL over the node's tables (receipts, lineage, workflows, workflow_status).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Log } from '../../streams/log.ts';
import { createTopology } from '../../streams/topology.ts';
import { InvalidArgumentError, Option } from 'commander';
import type { TableStore } from '../../processors/tables/index.ts';
import type { OpenTableStoreInit } from '../../processors/tables/index.ts';

/** What `ipvm sql` needs from the surrounding CLI. */
export interface SqlCommandContext {
  /** Writes output text. @default process.stdout.write */
  write?: (text: string) => void;
  /** Environment for `IPVM_DATA_DIR` and `IPVM_CLICKHOUSE_URL`. @default process.env */
  env?: Record<string, string | undefined>;
  /** Opens the store. @default openTableStore */
  open?: (init: OpenTableStoreInit) => TableStore;
}

const FORMATS = ['table', 'json', 'csv'] as const;

const EXAMPLES = `
Examples:
  ipvm sql "SELECT function, count() AS n FROM receipts FINAL GROUP BY function"
  ipvm sql --format csv "SELECT * FROM lineage FINAL WHERE input_cid = 'bafy…'"
  ipvm sql --clickhouse-url http://127.0.0.1:8123 "SELECT * FROM workflow_status"
More in schemas/clickhouse/README.md.`;

/** Register `ipvm sql`. */
export function registerSql(program: Command, ctx: SqlCommandContext = {}): Command {
  const write = ctx.write ?? ((text: string) => void process.stdout.write(text));
  return program
    .command('sql')
    .description("run ClickHouse SQL over the node's memo and reverse-lookup tables")
    .argument('<query>', 'the SQL statement')
    .addOption(new Option('--format <format>', 'output format').choices(FORMATS).default('table'))
    .option(
      '--data-dir <dir>',
      'data directory of the embedded tables (default: $IPVM_DATA_DIR or .ipvm)',
    )
    .option(
      '--clickhouse-url <url>',
      'query a ClickHouse server instead (default: $IPVM_CLICKHOUSE_URL)',
    )
    .option('--database <name>', 'database of the tables', 'ipvm')
    .addHelpText('after', EXAMPLES)
    .action(
      async (
        query: string,
        opts: {
          format: (typeof FORMATS)[number];
          dataDir?: string;
          clickhouseUrl?: string;
          database: string;
        },
      ) => {
        if (query.trim() === '') throw new InvalidArgumentError('empty query');
        const env = ctx.env ?? process.env;
        // Loaded on use: the table store pulls in ClickHouse clients every other command can skip.
        const open = ctx.open ?? (await import('../../processors/tables/index.ts')).openTableStore;
        // try/finally rather than `await using`: Node 22 runs this file without a transform.
        const store = open({
          clickhouseUrl: opts.clickhouseUrl ?? env.IPVM_CLICKHOUSE_URL,
          dataDir: opts.dataDir ?? env.IPVM_DATA_DIR ?? '.ipvm',
          database: opts.database,
        });
        try {
          // The embedded tables are ours to create (so a fresh node answers with empty tables);
          // a server's are left as they are (the user may be read-only).
          if (store.kind === 'chdb') {
            await store.migrate();
            await catchUp(store, opts.dataDir ?? env.IPVM_DATA_DIR ?? '.ipvm', env);
          }
          if (opts.format === 'json') {
            const rows = await store.query(query);
            write(JSON.stringify(rows, null, 2) + '\n');
          } else {
            write(await store.query(query, { format: opts.format }));
          }
        } finally {
          await store.close();
        }
      },
    );
}

/**
 * Indexes what the node's file log holds beyond the tables, so an embedded node answers for
 * everything run so far. Skipped (with a note) when the log is held by a running `ipvm start`,
 * whose indexer keeps the tables current (`--tables`).
 */
async function catchUp(
  store: TableStore,
  dataDir: string,
  env: Record<string, string | undefined>,
): Promise<void> {
  const dir = join(dataDir, 'log');
  if (!existsSync(dir)) return;
  const files = await import('../../streams/file/index.ts');
  const indexer = await import('../../processors/index-tables.ts');
  const tables = await import('../../processors/tables/index.ts');
  let log: Log | undefined;
  try {
    log = files.createFileLog({ dir });
    const topology = createTopology({ namespace: env.IPVM_NAMESPACE ?? 'ipvm' });
    await tables.catchUpTables({ log, store, streams: indexer.tableStreams(topology) });
    await tables.indexMismatches({ log, store, stream: topology.name('verification') });
  } catch (err) {
    process.stderr.write(`ipvm sql: tables not brought up to date (${(err as Error).message})\n`);
  } finally {
    await log?.close();
  }
}
