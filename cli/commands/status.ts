// `ipvm status [CID]`: the workflows in the log and their progress, folded from the streams.
import type { Command } from 'commander';
import { CID } from 'multiformats/cid';
import { UsageError } from '../exit.ts';
import { readWorkflows, type WorkflowView } from '../../processors/api/log-view.ts';
import { logOptions, type NodeFlags, logPlace } from '../node-context.ts';
import { openReadLog } from '../../processors/compose/open-log.ts';
import { connectNode, remoteOption, throughNode, type RemoteFlags } from '../remote.ts';

interface StatusFlags extends NodeFlags, RemoteFlags {
  json?: boolean;
  limit: string;
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

function time(ms: number | null): string {
  return ms === null
    ? '-'
    : new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}

// Columns padded to their widest cell, two spaces apart, no borders (as `docker ps` prints): the
// lines stay easy to grep, cut and read in a log. That is all a table library would do here,
// and cli-table3 and the like draw borders; `ipvm sql` prints ClickHouse's own tables.
function summaryTable(workflows: WorkflowView[]): string {
  const rows = workflows.map((w) => [
    w.workflow,
    w.name ?? '-',
    w.unknownAwaits.length === 0 ? w.status : `${w.status} (awaits unknown CID)`,
    `${w.done}/${w.tasks.length}`,
    String(w.errors),
    String(w.replayed),
    time(w.submittedAt),
  ]);
  const head = ['WORKFLOW', 'NAME', 'STATUS', 'DONE', 'ERRORS', 'REPLAYED', 'SUBMITTED'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => pad(c, widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function detail(w: WorkflowView): string {
  const lines = [
    `workflow   ${w.workflow}`,
    `name       ${w.name ?? '-'}`,
    `status     ${w.status}${w.reason === null ? '' : ` (${w.reason})`}`,
    `progress   ${w.done}/${w.tasks.length} tasks, ${w.ok} ok, ${w.errors} errors, ${w.replayed} replayed`,
    `submitted  ${time(w.submittedAt)}${w.submissions > 1 ? ` (${w.submissions} times)` : ''}`,
    `ended      ${time(w.endedAt)}`,
    ...w.unknownAwaits.map(
      (a) => `waiting    ${a}: not produced by this workflow and not in the memo`,
    ),
    '',
  ];
  for (const t of w.tasks) {
    const mark = t.status === 'ok' ? 'ok     ' : t.status === 'error' ? 'ERR    ' : 'pending';
    const deps = t.awaits.length === 0 ? '' : ` ← ${t.awaits.map((a) => `#${a.task}`).join(', ')}`;
    lines.push(
      `  #${t.index} ${mark} ${t.func} ${t.instruction}${t.replayed ? ' (replayed)' : ''}${deps}`,
    );
  }
  return lines.join('\n');
}

export function registerStatus(program: Command): void {
  logOptions(
    remoteOption(program.command('status'))
      .description(
        'Show the workflows in the log and their progress (one workflow in detail with a CID)',
      )
      .argument('[cid]', 'a workflow CID')
      .option('--json', 'print JSON (a list of workflows, or one workflow with its tasks)')
      .option('--limit <n>', 'show the N most recent workflows', '50'),
  )
    .addHelpText(
      'after',
      `
Asks the node running on the data directory (or --node URL / IPVM_NODE) when there is one, else
reads the log without taking its lock. With a CID, exits 1 when the workflow failed or is not
in the log.

Examples:
  ipvm status
  ipvm status bafyrmi…
  ipvm status --json | jq '.[] | select(.status == "failed")'`,
    )
    .action(async (cid: string | undefined, flags: StatusFlags) => {
      let wanted: string | undefined;
      if (cid !== undefined) {
        try {
          wanted = CID.parse(cid).toString();
        } catch (err) {
          throw new UsageError(`not a CID: ${JSON.stringify(cid)}`, { cause: err });
        }
      }
      const limit = Number(flags.limit);
      if (!Number.isInteger(limit) || limit < 1)
        throw new UsageError(`--limit must be a positive integer (got ${flags.limit})`);
      // Through a running node when there is one (the only way to --node a remote one); else
      // the log, read without its lock.
      const opened = await throughNode<{ workflows: WorkflowView[]; dataDir: string }>(
        flags,
        async ({ url, where }) => {
          const client = await connectNode(url);
          try {
            return { workflows: await client.status(), dataDir: where };
          } finally {
            await client.close();
          }
        },
        async () => {
          const read = await openReadLog(logPlace(flags));
          try {
            return {
              workflows: await readWorkflows(read.log, read.topology),
              dataDir: read.dataDir,
            };
          } finally {
            await read[Symbol.asyncDispose]();
          }
        },
      );
      const { workflows } = opened;
      if (wanted !== undefined) {
        const w = workflows.find((x) => x.workflow === wanted);
        if (w === undefined) {
          process.stderr.write(`ipvm: workflow ${wanted} is not in the log of ${opened.dataDir}\n`);
          process.exitCode = 1;
          return;
        }
        process.stdout.write((flags.json === true ? JSON.stringify(w, null, 2) : detail(w)) + '\n');
        if (w.status === 'failed') process.exitCode = 1;
        return;
      }
      const recent = workflows.slice(-limit);
      if (flags.json === true) {
        process.stdout.write(
          JSON.stringify(
            recent.map(({ tasks, ...rest }) => ({ ...rest, tasks: tasks.length })),
            null,
            2,
          ) + '\n',
        );
      } else if (recent.length === 0) {
        process.stdout.write(`no workflows in the log of ${opened.dataDir}\n`);
      } else {
        process.stdout.write(summaryTable(recent) + '\n');
      }
    });
}
