// `ipvm replay`: jobs that fold a range of the streams — rebuild the tables, or verify the
// receipts (re-hash; re-execute a sample). Cron-friendly: no prompt, a progress bar only on a
// terminal, one summary line (or JSON), exit 1 on a mismatch.
import type { Command } from 'commander';
import type { ReplaySummary } from '../../processors/replay/job.ts';
import type { VerificationMismatchEvent } from '../../schemas/job-events.ts';
import { UsageError } from '../exit.ts';
import { authOptions, logOptions, type NodeFlags, logPlace, authConfig } from '../node-context.ts';
import { openReadLog, openWriteLog } from '../../processors/compose/open-log.ts';
import { openRunner } from '../../processors/compose/open-runner.ts';
import { openReceiptCheck } from '../../processors/compose/open-authority.ts';
import { createBar } from '../progress-bar.ts';

interface ReplayFlags extends NodeFlags {
  into?: string;
  verify?: boolean;
  from?: string;
  to?: string;
  workflow?: string;
  reexecute?: string | boolean;
  seed?: string;
  clickhouseUrl?: string;
  json?: boolean;
}

/** `--reexecute [FRACTION]`: absent 0, bare 1, else a fraction in (0, 1]. */
export function parseFraction(value: string | boolean | undefined): number {
  if (value === undefined || value === false) return 0;
  if (value === true) return 1;
  const f = Number(value);
  if (!(f > 0 && f <= 1))
    throw new UsageError(`--reexecute takes a fraction in (0, 1] (got ${value})`);
  return f;
}

export function registerReplay(program: Command): void {
  authOptions(
    logOptions(
      program
        .command('replay')
        .description('Fold a range of the streams: rebuild the tables, or verify the receipts')
        .option('--into <target>', 'tables (re-index) or verify (check receipts)')
        .option('--verify', 'same as --into verify (may be given with --into tables)')
        .option(
          '--from <offset|time>',
          'start of the range: an offset, an ISO time, or -24h (default: the beginning)',
        )
        .option('--to <offset|time>', 'end of the range, exclusive (default: the end)')
        .option('--workflow <cid>', "only this workflow's events")
        .option(
          '--reexecute [fraction]',
          're-execute a seeded sample (default all) of the pure tasks and compare',
        )
        .option('--seed <n>', 'seed of the --reexecute sample', '0')
        .option(
          '--clickhouse-url <url>',
          'rebuild a ClickHouse server instead of the embedded tables (env IPVM_CLICKHOUSE_URL)',
          process.env.IPVM_CLICKHOUSE_URL,
        )
        .option('--json', 'print the summary as one JSON line'),
    ),
  )
    .addHelpText(
      'after',
      `
A range is [--from, --to): offsets apply in every partition, times to the records' append
time. Without a range, --into tables drops and rebuilds the tables; with one, exactly the
rows of that range are inserted again (nothing else moves).

Examples:
  ipvm replay --into tables                        # drop, recreate and re-index the tables
  ipvm replay --into tables --from -1h             # re-index the last hour only
  ipvm replay --verify                             # every receipt's CID recomputed and compared
  ipvm replay --verify --reexecute 0.1 --from -24h # and 10% of yesterday's pure tasks re-run
  0 3 * * * ipvm replay --verify --json            # as a nightly system cron job
  ipvm cron add nightly "0 3 * * *" --replay verify --reexecute 0.1 --from -24h  # or in the node`,
    )
    .action(async (flags: ReplayFlags) => {
      const fraction = parseFraction(flags.reexecute);
      const verify = flags.verify === true || flags.into === 'verify' || fraction > 0;
      const tables = flags.into === 'tables';
      if (flags.into !== undefined && flags.into !== 'tables' && flags.into !== 'verify')
        throw new UsageError(`--into takes "tables" or "verify" (got ${flags.into})`);
      if (!verify && !tables)
        throw new UsageError('say what to replay: --into tables and/or --verify');
      const seed = Number(flags.seed ?? 0);
      if (!Number.isSafeInteger(seed))
        throw new UsageError(`--seed takes an integer (got ${flags.seed})`);
      // Loaded on use, so that other commands start fast.
      const [{ runReplayJob }, { isWholeLog, parseRange }] = await Promise.all([
        import('../../processors/replay/job.ts'),
        import('../../processors/replay/range.ts'),
      ]);
      const range = parseRange(flags, Date.now());
      const out: ReplaySummary[] = [];
      const bar = await createBar(process.stderr, flags.json !== true);
      if (verify) {
        const opened = await openReadLog(logPlace(flags));
        const runner = fraction > 0 ? await openRunner(flags) : undefined;
        const found: VerificationMismatchEvent[] = [];
        try {
          out.push(
            await runReplayJob({
              log: opened.log,
              topology: opened.topology,
              job: { into: 'verify', range, reexecute: fraction, seed },
              runner: runner?.runner,
              recorder: { record: (e) => void found.push(e), drain: () => Promise.resolve() },
              executor: 'ipvm-replay',
              onProgress: bar.update,
            }),
          );
        } finally {
          bar.stop();
          await runner?.[Symbol.asyncDispose]();
          await opened[Symbol.asyncDispose]();
        }
        if (found.length > 0) await recordMismatches(flags, found);
      }
      if (tables) {
        const { openTableStore, tablesConsumer } = await import('../../processors/tables/index.ts');
        const opened = await openWriteLog(logPlace(flags));
        const store = openTableStore({
          clickhouseUrl: flags.clickhouseUrl,
          dataDir: opened.dataDir,
        });
        try {
          out.push(
            await runReplayJob({
              log: opened.log,
              topology: opened.topology,
              job: { into: 'tables', range },
              store,
              consumer: tablesConsumer(store, {
                backend: flags.backend,
                dataDir: opened.dataDir,
              }),
              verify: await openReceiptCheck(authConfig(flags), opened.dataDir),
              onProgress: bar.update,
            }),
          );
        } finally {
          bar.stop();
          await store.close();
          await opened[Symbol.asyncDispose]();
        }
      }
      print(out, flags.json === true, isWholeLog(range));
      if (out.some((s) => s.mismatches.length > 0)) process.exitCode = 1;
    });
}

/** Appends re-execution mismatches to the `verification` stream, when the log can be written. */
async function recordMismatches(
  flags: ReplayFlags,
  found: VerificationMismatchEvent[],
): Promise<void> {
  const { eventRecord } = await import('../../processors/engine/envelope.ts');
  try {
    const opened = await openWriteLog(logPlace(flags));
    try {
      const stream = opened.topology.name('verification');
      await opened.log.ensureStreams([{ name: stream, partitions: 1 }]);
      await opened.log.append(
        stream,
        found.map((e) => eventRecord(e.instruction?.toString() ?? e.rsc, e)),
      );
    } finally {
      await opened[Symbol.asyncDispose]();
    }
  } catch (err) {
    process.stderr.write(
      `ipvm replay: mismatches not recorded on the verification stream (${(err as Error).message}); a job scheduled with ipvm cron records them in the node\n`,
    );
  }
}

function print(out: ReplaySummary[], json: boolean, whole: boolean): void {
  const v = out.find((s) => s.into === 'verify');
  const t = out.find((s) => s.into === 'tables');
  if (json) {
    const summary: Record<string, unknown> = {};
    if (v !== undefined) {
      summary.verified = v.verified;
      summary.unsigned = v.unsigned;
      if (v.reexecuted !== undefined) summary.reexecuted = v.reexecuted;
      summary.mismatches = v.mismatches;
    }
    if (t !== undefined) summary.tables = { ...t.tables, ms: t.ms, range: !whole };
    process.stdout.write(JSON.stringify(summary) + '\n');
    return;
  }
  if (v !== undefined) {
    const re =
      v.reexecuted === undefined ? '' : `, ${v.reexecuted} of ${v.eligible} pure tasks re-executed`;
    process.stdout.write(
      `verified ${v.verified} receipts${re}, ${v.mismatches.length} mismatches, ${v.unsigned ?? 0} unsigned\n`,
    );
    for (const x of v.mismatches)
      process.stdout.write(`  ${x.stream}/${x.partition}@${x.offset}: ${x.reason}\n`);
  }
  if (t !== undefined)
    process.stdout.write(
      `tables ${whole ? 'rebuilt' : 'range re-indexed'}: ${JSON.stringify({ ...t.tables, ms: t.ms })}\n`,
    );
}
