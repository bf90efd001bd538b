// `ipvm watch`: follow the receipt streams live and print each receipt (all, or one workflow's).
import type { Command } from 'commander';
import { CID } from 'multiformats/cid';
import type { ReadFrom } from '../../streams/log.ts';
import type { NodeEvent } from '../../schemas/events.ts';
import { workflowEnd, type WorkflowEnd } from '../../processors/api/receipt-line.ts';
import type { WatchItem } from '../../client/index.ts';
import { UsageError } from '../exit.ts';
import { readEvents } from '../../processors/api/log-view.ts';
import { receiptStreams } from '../../streams/topology.ts';
import { logOptions, type NodeFlags, logPlace } from '../node-context.ts';
import { openReadLog } from '../../processors/compose/open-log.ts';
import { connectNode, remoteOption, throughNode, type RemoteFlags } from '../remote.ts';
import { humanLine, receiptLine } from './run.ts';

interface WatchFlags extends NodeFlags, RemoteFlags {
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
    remoteOption(program.command('watch'))
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
Goes through the node running on the data directory (or --node URL / IPVM_NODE) when there is
one, else reads the log without taking its lock (any node on Kafka/NATS too). Receipts from several partitions interleave; each partition stays in order.

Examples:
  ipvm watch                                        # receipts from now on, until Ctrl-C
  ipvm watch --from earliest --no-follow --json     # everything so far, as JSON lines
  ipvm watch --workflow bafyrmi… --from earliest    # one workflow; exits when it ends`,
    )
    .action(async (flags: WatchFlags) => {
      const from = parseFrom(flags.from);
      const workflow =
        flags.workflow === undefined ? undefined : parseCid(flags.workflow).toString();
      const controller = new AbortController();
      const stop = (): void => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const printed = new Set<string>();
      let ended: WorkflowEnd | undefined;
      let graceTimer: NodeJS.Timeout | undefined;
      const maybeStop = (): void => {
        if (ended !== undefined && ended.receipts.every((r) => printed.has(r))) stop();
      };
      /** Prints what the log (or the node) says, the same way on both paths. */
      const show = async (items: AsyncIterable<WatchItem>): Promise<void> => {
        for await (const item of items) {
          if ('receipt' in item) {
            const l = item.receipt;
            if (workflow !== undefined && l.workflow !== workflow) continue;
            printed.add(l.receipt);
            process.stdout.write(
              (flags.json === true ? JSON.stringify(l) : `${l.stream.padEnd(15)} ${humanLine(l)}`) +
                '\n',
            );
            maybeStop();
          } else if ('rejected' in item) {
            if (workflow !== undefined) continue;
            const r = item.rejected;
            process.stdout.write(
              (flags.json === true
                ? JSON.stringify(item)
                : `REJECTED ${r.key === '' ? '-' : r.key} ${r.stream}/${r.partition}@${r.offset}: ${r.reason}`) +
                '\n',
            );
          } else if (item.end.workflow === workflow) {
            ended = item.end;
            maybeStop();
            // Receipts written before the watch started (--from latest) never come: stop anyway.
            graceTimer ??= setTimeout(stop, END_GRACE_MS);
          }
        }
      };
      try {
        await throughNode(
          flags,
          async ({ url }) => {
            const client = await connectNode(url);
            try {
              await show(
                client.watch({ workflow, from, follow: flags.follow, signal: controller.signal }),
              ).catch((err: unknown) => {
                if (!controller.signal.aborted) throw err;
              });
            } finally {
              await client.close();
            }
          },
          async () => {
            const opened = await openReadLog(logPlace(flags));
            try {
              // `invocations` says when a workflow has ended, and what was rejected.
              const streams = [
                ...receiptStreams(opened.topology),
                opened.topology.name('invocations'),
              ];
              await show(
                eventItems(
                  readEvents(opened.log, streams, {
                    from,
                    follow: flags.follow,
                    signal: controller.signal,
                  }),
                ),
              );
            } finally {
              await opened[Symbol.asyncDispose]();
            }
          },
        );
      } finally {
        clearTimeout(graceTimer);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
      if (ended?.status === 'failed') process.exitCode = 1;
    });
}

/** Receipts and workflow ends of a stream of events. */
async function* eventItems(events: AsyncIterable<NodeEvent>): AsyncGenerator<WatchItem> {
  for await (const e of events) {
    if (e.type === 'receipt') yield { receipt: receiptLine(e, e.replayed) };
    else if (e.type === 'workflow/completed' || e.type === 'workflow/failed')
      yield { end: workflowEnd(e) };
    else if (e.type === 'workflow/rejected') {
      const { type: _t, at: _a, ...rejected } = e;
      yield { rejected };
    }
  }
}
