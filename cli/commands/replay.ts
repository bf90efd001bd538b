// `ipvm replay`: jobs that fold the streams from offset 0 — rebuild the tables, re-verify
// every receipt. Cron-friendly: no prompt, one summary line (or JSON), exit 1 on a mismatch.
import type { Command } from 'commander';
import { decodeEvent } from '../../schemas/events.ts';
import { encodeReceipt } from '../../schemas/model.ts';
import { UsageError } from '../exit.ts';
import { logOptions, openReadLog, openWriteLog, type NodeFlags } from '../node-context.ts';
import { receiptStreams } from '../log-view.ts';

interface ReplayFlags extends NodeFlags {
  into?: string;
  verify?: boolean;
  clickhouseUrl?: string;
  json?: boolean;
}

export function registerReplay(program: Command): void {
  logOptions(
    program
      .command('replay')
      .description('Fold the streams from offset 0: rebuild the tables, or re-verify every receipt')
      .option('--into <target>', 'what to rebuild: tables')
      .option('--verify', 're-derive every receipt CID from its receipt and check it')
      .option(
        '--clickhouse-url <url>',
        'rebuild a ClickHouse server instead of the embedded tables (env IPVM_CLICKHOUSE_URL)',
        process.env.IPVM_CLICKHOUSE_URL,
      )
      .option('--json', 'print the summary as JSON'),
  )
    .addHelpText(
      'after',
      `
Examples:
  ipvm replay --into tables                  # drop, recreate and re-index the tables
  ipvm replay --verify                       # every receipt's CID recomputed and compared
  0 3 * * * ipvm replay --verify --json      # as a nightly cron job`,
    )
    .action(async (flags: ReplayFlags) => {
      if (flags.into === undefined && flags.verify !== true) {
        throw new UsageError('say what to replay: --into tables and/or --verify');
      }
      if (flags.into !== undefined && flags.into !== 'tables') {
        throw new UsageError(`--into takes "tables" (got ${flags.into})`);
      }
      const summary: Record<string, unknown> = {};
      let failed = false;
      if (flags.verify === true) {
        const opened = await openReadLog(flags);
        try {
          let checked = 0;
          const mismatches: Array<{
            stream: string;
            partition: number;
            offset: number;
            reason: string;
          }> = [];
          for (const stream of receiptStreams(opened.topology)) {
            for await (const record of opened.log.read(stream)) {
              const where = { stream, partition: record.partition, offset: record.offset };
              try {
                const event = decodeEvent(record.value);
                if (event.type !== 'receipt') continue;
                checked++;
                const cid = encodeReceipt(event.body).cid.toString();
                const receipt = event.receipt.toString();
                const ran = event.body.ran.toString();
                const invocation = event.invocation.toString();
                if (cid !== receipt) {
                  mismatches.push({
                    ...where,
                    reason: `receipt CID ${receipt} but its body hashes to ${cid}`,
                  });
                } else if (ran !== invocation) {
                  mismatches.push({
                    ...where,
                    reason: `ran ${ran} is not the invocation ${invocation}`,
                  });
                }
              } catch (err) {
                mismatches.push({ ...where, reason: (err as Error).message });
              }
            }
          }
          summary.verified = checked;
          summary.mismatches = mismatches;
          failed = mismatches.length > 0;
        } finally {
          await opened[Symbol.asyncDispose]();
        }
      }
      if (flags.into === 'tables') {
        const tables = await import('../../processors/tables/index.ts');
        const indexer = await import('../../processors/index-tables.ts');
        const opened = await openWriteLog(flags);
        const store = tables.openTableStore({
          clickhouseUrl: flags.clickhouseUrl,
          dataDir: opened.dataDir,
        });
        try {
          const started = performance.now();
          const stats = await tables.rebuildTables({
            log: opened.log,
            store,
            streams: indexer.tableStreams(opened.topology),
          });
          summary.tables = { ...stats, ms: Math.round(performance.now() - started) };
        } finally {
          await store.close();
          await opened[Symbol.asyncDispose]();
        }
      }
      if (flags.json === true) process.stdout.write(JSON.stringify(summary) + '\n');
      else {
        const verified = summary.verified;
        if (typeof verified === 'number') {
          const m = summary.mismatches as Array<{
            stream: string;
            partition: number;
            offset: number;
            reason: string;
          }>;
          process.stdout.write(`verified ${verified} receipts, ${m.length} mismatches\n`);
          for (const x of m)
            process.stdout.write(`  ${x.stream}/${x.partition}@${x.offset}: ${x.reason}\n`);
        }
        if (summary.tables !== undefined)
          process.stdout.write(`tables rebuilt: ${JSON.stringify(summary.tables)}\n`);
      }
      if (failed) process.exitCode = 1;
    });
}
