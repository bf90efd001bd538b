// `ipvm sql "QUERY" [--format table|json|csv] [--data-dir D] [--clickhouse-url URL]`: run
// ClickHouse SQL over the node's tables (receipts, lineage, workflows, workflow_status).
import type { Command } from 'commander';
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
          if (store.kind === 'chdb') await store.migrate();
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
