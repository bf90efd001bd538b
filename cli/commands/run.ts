// `ipvm run FILE`: run a workflow on a node and print each receipt as it arrives.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseWorkflow } from '../../schemas/model.ts';
import { receiptLine, toJson, type ReceiptLine } from '../../processors/api/receipt-line.ts';
import { readInput } from '../io.ts';
import { nodeOptions, type NodeFlags } from '../node-context.ts';
import { createProgress } from '../progress.ts';
import { UsageError } from '../exit.ts';
import { commandLogger } from '../logging.ts';
import { runWorkflow, type RunSink } from '../run-workflow.ts';
import { remoteOption, type RemoteFlags } from '../remote.ts';

/** One line of `ipvm run --json` (the same shape the API's face methods send). */
export type RunLine = ReceiptLine;
export { receiptLine, toJson };

/** The human line of a receipt: `ok  add_one bafyrmi… → 2`. */
export function humanLine(l: RunLine): string {
  const mark = l.out[0] === 'ok' ? 'ok ' : 'ERR';
  const value = JSON.stringify(l.out[1]) ?? 'null';
  return `${mark} ${l.func} ${l.instruction}${l.replayed ? ' (replayed)' : ''} → ${value.length > 200 ? value.slice(0, 200) + '…' : value}`;
}

export function registerRun(program: Command): void {
  nodeOptions(
    remoteOption(program.command('run'))
      .description(
        'Run a workflow on the node and print its receipts; exits 1 if the workflow fails',
      )
      .argument('<file>', 'workflow file (DAG-JSON, DAG-CBOR or {name, workflow}), or - for stdin')
      .option('--json', 'one JSON object per receipt, then one for the workflow')
      .option('--timeout <ms>', 'fail the workflow if it has not ended after MS ms', '600000')
      .option(
        '--await-timeout <ms>',
        'fail it after MS ms when it awaits a CID no task produces and the memo lacks',
        '60000',
      )
      .option(
        '--proof <token>',
        'a UCAN proof for the tasks (repeatable; also read from the file\'s {"proofs": …})',
        (v: string, prev: string[]) => [...prev, v],
        [] as string[],
      ),
  )
    .addHelpText(
      'after',
      `
When a node runs on the data directory (\`ipvm start\`), or with --node URL / IPVM_NODE, the
workflow is submitted through that node's API and its receipts print the same way.
A progress line is drawn on stderr when it is a terminal. Exit codes: 0 completed, 1 failed or
bad workflow, 2 usage, 3 infrastructure (e.g. the node named by --node is unreachable).

Examples:
  ipvm run examples/workflows/add-one.json
  ipvm run --json --data-dir /tmp/node workflow.json | jq .out
  cat workflow.cbor | ipvm run -`,
    )
    .action(
      async (
        file: string,
        flags: NodeFlags &
          RemoteFlags & { json?: boolean; timeout: string; awaitTimeout: string; proof?: string[] },
        command: Command,
      ) => {
        // For the embedded node; a running node applies its own.
        const workflowTimeoutMs = positiveMs(flags.timeout, '--timeout');
        const awaitTimeoutMs = positiveMs(flags.awaitTimeout, '--await-timeout');
        const bytes = await readInput(file, readFile);
        const parsed = parseWorkflow(bytes); // located errors before anything starts
        await runWorkflow(
          flags,
          commandLogger(command),
          () => Promise.resolve(bytes),
          () => createReport(parsed.tasks.length, flags.json === true),
          { workflowTimeoutMs, awaitTimeoutMs },
          { proofTokens: flags.proof ?? [], known: bytes },
        );
      },
    );
}

/**
 * Prints receipts (one line each, once per instruction) and the summary, the same way whether
 * they come from an embedded node or through a running node's API.
 */
function createReport(tasks: number, json: boolean): RunSink {
  // A progress line on a terminal only; nothing when stderr is piped.
  const progress = createProgress(process.stderr, tasks);
  const seen = new Set<string>();
  let replayedCount = 0;
  let ranCount = 0;
  return {
    print(l) {
      if (seen.has(l.instruction)) return;
      seen.add(l.instruction);
      if (l.replayed) replayedCount++;
      else ranCount++;
      progress.clear();
      process.stdout.write((json ? JSON.stringify(l) : humanLine(l)) + '\n');
      progress.tick({ replayed: l.replayed, ok: l.out[0] === 'ok' });
    },
    warn(warnings) {
      for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    },
    end(workflow, e) {
      progress.done();
      // Counted from this workflow's own receipts: the node may also be finishing other
      // workflows left in the log, which are not this run's work.
      const executed = ranCount;
      const summary = {
        workflow,
        status: e.status,
        tasks,
        executed,
        replayed: replayedCount,
        failed: e.failed,
        reason: e.reason,
      };
      if (json) process.stdout.write(JSON.stringify(summary) + '\n');
      else {
        const notRun = tasks - executed - replayedCount;
        process.stderr.write(
          `workflow ${workflow} ${e.status}: ${tasks} tasks, ${executed} executed, ${replayedCount} replayed` +
            (notRun > 0 ? `, ${notRun} not run` : '') +
            (e.reason === null ? '' : ` (${e.reason})`) +
            '\n',
        );
      }
      if (e.status !== 'completed') process.exitCode = 1;
    },
  };
}

function positiveMs(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} must be a positive number of milliseconds (got ${text})`);
  return n;
}
