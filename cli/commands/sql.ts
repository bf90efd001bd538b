// `ipvm sql "QUERY" [--format table|json|csv] [--data-dir D] [--clickhouse-url URL]`: run
// ClickHouse SQL over the node's tables (receipts, lineage, workflows, workflow_status).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { authOptions, logOptions, type NodeFlags, logPlace, authConfig } from '../node-context.ts';
import { openWriteLog } from '../../processors/compose/open-log.ts';
import { openReceiptCheck } from '../../processors/compose/open-authority.ts';
import { connectNode, remoteOption, throughNode, type RemoteFlags } from '../remote.ts';
import { assertReadOnlySql } from '../../processors/api/sql-guard.ts';
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
  ipvm sql --write "OPTIMIZE TABLE receipts FINAL"

Beside a running \`ipvm start\` (or with --node URL / IPVM_NODE) the query goes through the node.
Statements that change the tables are refused unless --write (exit 2). Exit codes: 0 ok,
1 bad SQL, 2 usage, 3 the tables or the log are held by a node whose API is off.
More in schemas/clickhouse/README.md.`;

/** Register `ipvm sql`. */
export function registerSql(program: Command, ctx: SqlCommandContext = {}): Command {
  const write = ctx.write ?? ((text: string) => void process.stdout.write(text));
  return remoteOption(
    authOptions(
      logOptions(
        program
          .command('sql')
          .description("run ClickHouse SQL over the node's memo and reverse-lookup tables")
          .argument('<query>', 'the SQL statement')
          .addOption(
            new Option('--format <format>', 'output format').choices(FORMATS).default('table'),
          )
          .option(
            '--clickhouse-url <url>',
            'query a ClickHouse server instead (default: $IPVM_CLICKHOUSE_URL)',
          )
          .option('--database <name>', 'database of the tables', 'ipvm')
          .option('--write', 'allow statements that change the tables (INSERT, ALTER, DROP, …)'),
      ),
    ),
  )
    .addHelpText('after', EXAMPLES)
    .action(async (query: string, opts: SqlFlags) => {
      if (query.trim() === '') throw new InvalidArgumentError('empty query');
      if (opts.write !== true) assertReadOnlySql(query);
      const env = ctx.env ?? process.env;
      const dataDir = opts.dataDir ?? env.IPVM_DATA_DIR ?? '.ipvm';
      await throughNode(
        { ...opts, dataDir },
        // A running node holds the embedded tables (and the log): ask it.
        async ({ url }) => {
          const client = await connectNode(url);
          try {
            const out = await client.sql(query, { format: opts.format, write: opts.write });
            write(opts.format === 'json' ? JSON.stringify(out, null, 2) + '\n' : String(out));
          } finally {
            await client.close();
          }
        },
        async () => {
          // Loaded on use: the table store pulls in ClickHouse clients other commands can skip.
          const open =
            ctx.open ?? (await import('../../processors/tables/index.ts')).openTableStore;
          const store = openStore(open, {
            clickhouseUrl: opts.clickhouseUrl ?? env.IPVM_CLICKHOUSE_URL,
            dataDir,
            database: opts.database,
          });
          // try/finally rather than `await using`: Node 22 runs this file without a transform.
          try {
            // The embedded tables are ours to create (so a fresh node answers with empty
            // tables); a server's are left as they are (the user may be read-only).
            if (store.kind === 'chdb') {
              await lockedAsInfrastructure(store.migrate());
              await catchUp(store, { ...opts, dataDir });
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
    });
}

interface SqlFlags extends NodeFlags, RemoteFlags {
  format: (typeof FORMATS)[number];
  clickhouseUrl?: string;
  database: string;
  write?: boolean;
}

/** The embedded tables are held by another process (a node started with --rpc-port off). */
export class TablesLockedError extends Error {
  override name = 'TablesLockedError';
  readonly retryable = true;
}

function openStore(
  open: (init: OpenTableStoreInit) => TableStore,
  init: OpenTableStoreInit,
): TableStore {
  try {
    return open(init);
  } catch (err) {
    throw lockError(err);
  }
}

function lockError(err: unknown): unknown {
  const message = (err as Error).message ?? '';
  return /Code: 76\b|Cannot lock file/.test(message)
    ? new TablesLockedError(
        `the embedded tables are held by a running node: start it with its API on (the default) so ipvm sql can ask it, or use --clickhouse-url`,
        { cause: err },
      )
    : err;
}

async function lockedAsInfrastructure<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw lockError(err);
  }
}

/**
 * Indexes what the node's log holds beyond the tables, so an embedded node answers for
 * everything run so far. A log held by a running node (whose API was not found) is an
 * infrastructure error: the caller waits for that node's API or exits 3.
 */
async function catchUp(store: TableStore, flags: NodeFlags): Promise<void> {
  if ((flags.backend ?? 'file') === 'file' && !existsSync(join(flags.dataDir!, 'log'))) return;
  const indexer = await import('../../processors/index-tables.ts');
  const tables = await import('../../processors/tables/index.ts');
  const opened = await openWriteLog(logPlace(flags));
  try {
    const consumer = tables.tablesConsumer(store, {
      backend: flags.backend,
      dataDir: opened.dataDir,
    });
    await tables.catchUpTables({
      log: opened.log,
      store,
      consumer,
      verify: await openReceiptCheck(authConfig(flags), opened.dataDir),
      streams: indexer.tableStreams(opened.topology),
    });
    await tables.indexMismatches({
      log: opened.log,
      store,
      consumer,
      stream: opened.topology.name('verification'),
    });
  } finally {
    await opened[Symbol.asyncDispose]();
  }
}
