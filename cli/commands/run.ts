// `ipvm run FILE`: run a workflow on a node and print each receipt as it arrives.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { dagJson } from '../../schemas/codecs.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { ReceiptEvent } from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { receiptStreamOf } from '../../processors/effects/ops.ts';
import { UsageError } from '../exit.ts';
import { readInput } from '../io.ts';
import { nodeOptions, openNode, type NodeFlags } from '../node-context.ts';
import { createProgress } from '../progress.ts';

/** One line of `ipvm run --json`. */
export interface RunLine {
  instruction: string;
  receipt: string;
  workflow: string;
  /** The Wasm function, or for other ops `op rsc` (`http/get https://…`). */
  func: string;
  /** The stream the receipt is written to: `pure`, `effects.pure` or `effects.managed`. */
  stream: string;
  out: ['ok' | 'error', unknown];
  replayed: boolean;
  fuel: number | null;
  durationMs: number | null;
}

/** IPLD → plain JSON through DAG-JSON (links become {"/": cid}, bytes {"/": {"bytes": …}}). */
export function toJson(value: IpldValue): unknown {
  return JSON.parse(dagJson.stringify(value)) as unknown;
}

/** The `--json` line of a receipt (shared by `ipvm run` and `ipvm watch`). */
export function receiptLine(r: ReceiptEvent, replayed: boolean): RunLine {
  const input = r.run.input as { func?: unknown } | null;
  return {
    instruction: r.instruction.toString(),
    receipt: r.receipt.toString(),
    workflow: r.workflow?.toString() ?? '',
    func: typeof input?.func === 'string' ? input.func : `${r.run.op} ${r.run.rsc}`,
    stream: receiptStreamOf(r.run.op),
    out: [r.body.out[0], toJson(r.body.out[1])],
    replayed,
    fuel: r.fuel,
    durationMs: r.durationMs,
  };
}

/** The human line of a receipt: `ok  add_one bafyrmi… → 2`. */
export function humanLine(l: RunLine): string {
  const mark = l.out[0] === 'ok' ? 'ok ' : 'ERR';
  const value = JSON.stringify(l.out[1]) ?? 'null';
  return `${mark} ${l.func} ${l.instruction}${l.replayed ? ' (replayed)' : ''} → ${value.length > 200 ? value.slice(0, 200) + '…' : value}`;
}

export function registerRun(program: Command): void {
  nodeOptions(
    program
      .command('run')
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
      ),
  )
    .addHelpText(
      'after',
      `
A progress line is drawn on stderr when it is a terminal. Exit codes: 0 completed, 1 failed or
bad workflow, 2 usage, 3 infrastructure (e.g. the data dir's log is locked by \`ipvm start\`).

Examples:
  ipvm run examples/workflows/add-one.json
  ipvm run --json --data-dir /tmp/node workflow.json | jq .out
  cat workflow.cbor | ipvm run -`,
    )
    .action(
      async (
        file: string,
        flags: NodeFlags & { json?: boolean; timeout: string; awaitTimeout: string },
      ) => {
        const workflowTimeoutMs = positiveMs(flags.timeout, '--timeout');
        const awaitTimeoutMs = positiveMs(flags.awaitTimeout, '--await-timeout');
        const bytes = await readInput(file, readFile);
        const parsed = parseWorkflow(bytes); // located errors before anything starts
        const opened = await openNode(flags, undefined, { workflowTimeoutMs, awaitTimeoutMs });
        try {
          const { node } = opened;
          // A progress line on a terminal only; nothing when stderr is piped.
          const progress = createProgress(process.stderr, parsed.tasks.length);
          const seen = new Set<string>();
          let replayedCount = 0;
          // Counted from this workflow's own receipts: the node may also be finishing other
          // workflows left in the log, which are not this run's work.
          let executed = 0;
          const print = (r: ReceiptEvent, replayed: boolean): void => {
            const key = r.instruction.toString();
            if (seen.has(key)) return;
            seen.add(key);
            if (replayed) replayedCount++;
            else executed++;
            const l = receiptLine(r, replayed);
            progress.clear();
            process.stdout.write((flags.json === true ? JSON.stringify(l) : humanLine(l)) + '\n');
            progress.tick({ replayed, ok: l.out[0] === 'ok' });
          };
          const sub = node.receipts(parsed.cid).subscribe((r) => print(r, r.replayed));
          const submitted = await node.submit(bytes);
          for (const w of submitted.warnings) process.stderr.write(`warning: ${w}\n`);
          const end = await node.ended(parsed.cid);
          sub.unsubscribe();
          // A workflow that already ran ends at once: its receipts come from the memo.
          for (const t of parsed.tasks) {
            const entry = node.memo.get(t.instruction.toString());
            if (entry === undefined || seen.has(t.instruction.toString())) continue;
            print(
              {
                type: 'receipt',
                instruction: entry.instruction,
                invocation: entry.invocation,
                receipt: entry.receipt,
                workflow: parsed.cid,
                run: t.task.run,
                body: entry.body,
                replayed: true,
                fuel: null,
                durationMs: null,
                executor: node.nodeId,
                at: Date.now(),
              },
              true,
            );
          }
          progress.done();
          const summary = {
            workflow: parsed.cid.toString(),
            status: end.type === 'workflow/completed' ? 'completed' : 'failed',
            tasks: parsed.tasks.length,
            executed,
            replayed: replayedCount,
            failed: end.failed.map(String),
            reason: end.reason,
          };
          if (flags.json === true) process.stdout.write(JSON.stringify(summary) + '\n');
          else {
            const notRun = summary.tasks - executed - replayedCount;
            process.stderr.write(
              `workflow ${summary.workflow} ${summary.status}: ${summary.tasks} tasks, ${executed} executed, ${replayedCount} replayed` +
                (notRun > 0 ? `, ${notRun} not run` : '') +
                (end.reason === null ? '' : ` (${end.reason})`) +
                '\n',
            );
          }
          if (end.type !== 'workflow/completed') process.exitCode = 1;
        } finally {
          await opened[Symbol.asyncDispose]();
        }
      },
    );
}

function positiveMs(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} must be a positive number of milliseconds (got ${text})`);
  return n;
}
