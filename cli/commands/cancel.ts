// `ipvm cancel CID`: asks for a running workflow to be cancelled — through the running node's
// API when there is one, else by appending the request to the log (a node folds it when it
// starts). Nothing more of the workflow is released; tasks already running finish; it ends
// `failed` with a reason starting `cancelled`.
import type { Command } from 'commander';
import { CID } from 'multiformats/cid';
import { WorkflowNotRunningError, cancelEvent } from '../../processors/engine/cancel.ts';
import { eventRecord } from '../../processors/engine/envelope.ts';
import { UsageError } from '../exit.ts';
import { readWorkflows } from '../../processors/api/log-view.ts';
import { logOptions, type NodeFlags, logPlace } from '../node-context.ts';
import { openWriteLog } from '../../processors/compose/open-log.ts';
import { connectNode, remoteOption, throughNode, type RemoteFlags } from '../remote.ts';

interface CancelFlags extends NodeFlags, RemoteFlags {
  reason?: string;
  proof?: string[];
}

/** `--proof` tokens as a proof map (the authority names each by its own CID). */
function proofsOf(flags: CancelFlags): Record<string, string> | undefined {
  const tokens = flags.proof ?? [];
  return tokens.length === 0 ? undefined : Object.fromEntries(tokens.map((t, i) => [`#${i}`, t]));
}

/** Appends the cancel request to the log of a data directory no node runs on. */
async function cancelInLog(flags: CancelFlags, workflow: CID): Promise<string> {
  const opened = await openWriteLog(logPlace(flags));
  try {
    const key = workflow.toString();
    const view = (await readWorkflows(opened.log, opened.topology)).find((w) => w.workflow === key);
    if (view === undefined) throw new WorkflowNotRunningError(key, 'unknown');
    if (view.status !== 'running') throw new WorkflowNotRunningError(key, 'ended');
    // The proofs travel on the request: the node checks them when it folds it.
    const event = cancelEvent(workflow, flags.reason ?? null, Date.now(), proofsOf(flags));
    await opened.log.append(opened.topology.name('invocations'), [eventRecord(key, event)]);
    return `cancel of ${key} appended to the log of ${opened.dataDir}: it ends when a node next runs on it`;
  } finally {
    await opened[Symbol.asyncDispose]();
  }
}

export function registerCancel(program: Command): void {
  logOptions(
    remoteOption(program.command('cancel'))
      .description('Cancel a running workflow')
      .argument('<cid>', 'the workflow CID')
      .option('--reason <text>', 'why, written into the end reason ("cancelled: TEXT")')
      .option(
        '--proof <token>',
        'a UCAN granting workflow/cancel on ipvm:workflow:CID (repeatable; needed by a node in ucan mode)',
        (value: string, previous: string[] = []) => [...previous, value],
      ),
  )
    .addHelpText(
      'after',
      `
Nothing more of the workflow is released; tasks already running finish (their receipts are kept
and memoized); then it ends failed with the reason "cancelled". Goes through the node running on
the data directory (or --node URL / IPVM_NODE) when there is one, else appends the request to
the log. Exits 1 when the workflow has ended or is unknown, or when a node in ucan mode refuses
the proof (a proof covering the workflow's tasks is not enough).

Examples:
  ipvm cancel bafyrmi…
  ipvm cancel bafyrmi… --reason "wrong input"
  ipvm cancel bafyrmi… --proof "$(ipvm ucan delegate --audience NODE_DID --with ipvm:workflow:bafyrmi… --can workflow/cancel)"`,
    )
    .action(async (cid: string, flags: CancelFlags) => {
      let workflow: CID;
      try {
        workflow = CID.parse(cid);
      } catch (err) {
        throw new UsageError(`not a CID: ${JSON.stringify(cid)}`, { cause: err });
      }
      const said = await throughNode(
        flags,
        async ({ url }) => {
          const client = await connectNode(url);
          try {
            await client.cancel(workflow.toString(), {
              reason: flags.reason,
              proofs: flags.proof,
            });
            return `cancelled ${workflow.toString()}: it ends failed once its running tasks finish`;
          } finally {
            await client.close();
          }
        },
        () => cancelInLog(flags, workflow),
      );
      process.stdout.write(said + '\n');
    });
}
