// `ipvm watch`: follow the receipt streams live and print each receipt (all, or one workflow's).
import type { Command } from 'commander';
import { CID } from 'multiformats/cid';
import type { ReadFrom } from '../../streams/log.ts';
import type { WorkflowEndedEvent } from '../../schemas/events.ts';
import { UsageError } from '../exit.ts';
import { readEvents, receiptStreams } from '../log-view.ts';
import { logOptions, openReadLog, type NodeFlags } from '../node-context.ts';
import { humanLine, receiptLine } from './run.ts';

interface WatchFlags extends NodeFlags {
  workflow?: string;
  from: string;
  follow: boolean;
  json?: boolean;
}

/** How long to wait for a workflow's last receipts once its end was read (different streams). */
const END_GRACE_MS = 2_000;

function parseFrom(value: string): ReadFrom {
  if (value === 'earliest' || value === 'latest') return value;
  if (/^\d+$/.test(value)) return Number(value);
  throw new UsageError(
    `--from must be earliest, latest or an offset (got ${JSON.stringify(value)})`,
  );
}

function parseCid(value: string): CID {
  try {
    return CID.parse(value);
  } catch (err) {
    throw new UsageError(`--workflow: not a CID: ${JSON.stringify(value)}`, { cause: err });
  }
}

export function registerWatch(program: Command): void {
  logOptions(
    program
      .command('watch')
      .description('Follow receipts live as they are written to the log, and print them')
      .option(
        '--workflow <cid>',
        "only this workflow's receipts; exit when it ends (0 completed, 1 failed)",
      )
      .option(
        '--from <earliest|latest|N>',
        'where to start: the oldest record, only new ones, or an offset in every partition',
        'latest',
      )
      .option('--no-follow', 'print what is in the log now and exit')
      .option('--json', 'one JSON object per receipt (the same lines as ipvm run --json)'),
  )
    .addHelpText(
      'after',
      `
Reads the log without taking its lock, so it can watch a running \`ipvm start\` (file backend) or
any node on Kafka/NATS. Receipts from several partitions interleave; each partition stays in order.

Examples:
  ipvm watch                                        # receipts from now on, until Ctrl-C
  ipvm watch --from earliest --no-follow --json     # everything so far, as JSON lines
  ipvm watch --workflow bafyrmi… --from earliest    # one workflow; exits when it ends`,
    )
    .action(async (flags: WatchFlags) => {
      const from = parseFrom(flags.from);
      const workflow =
        flags.workflow === undefined ? undefined : parseCid(flags.workflow).toString();
      const opened = await openReadLog(flags);
      const controller = new AbortController();
      const stop = (): void => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const printed = new Set<string>();
      let ended: WorkflowEndedEvent | undefined;
      let graceTimer: NodeJS.Timeout | undefined;
      const maybeStop = (): void => {
        if (ended !== undefined && ended.receipts.every((r) => printed.has(r.toString()))) stop();
      };
      try {
        const streams = receiptStreams(opened.topology);
        // With --workflow, the invocations stream says when the workflow has ended.
        if (workflow !== undefined) streams.push(opened.topology.name('invocations'));
        for await (const event of readEvents(opened.log, streams, {
          from,
          follow: flags.follow,
          signal: controller.signal,
        })) {
          if (event.type === 'receipt') {
            if (workflow !== undefined && event.workflow?.toString() !== workflow) continue;
            const l = receiptLine(event, event.replayed);
            printed.add(l.receipt);
            process.stdout.write(
              (flags.json === true ? JSON.stringify(l) : `${l.stream.padEnd(15)} ${humanLine(l)}`) +
                '\n',
            );
            maybeStop();
          } else if (
            (event.type === 'workflow/completed' || event.type === 'workflow/failed') &&
            event.workflow.toString() === workflow
          ) {
            ended = event;
            maybeStop();
            // Receipts written before the watch started (--from latest) never come: stop anyway.
            graceTimer ??= setTimeout(stop, END_GRACE_MS);
          }
        }
      } finally {
        clearTimeout(graceTimer);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await opened[Symbol.asyncDispose]();
      }
      if (ended?.type === 'workflow/failed') process.exitCode = 1;
    });
}
