// `ipvm call MODULE FUNC [ARGS…]`: one call, no workflow file. MODULE is a CID or a local .wasm
// file (stored on the way); each argument is JSON when it parses, else a string. The call is a
// one-task workflow, so it is memoized like any task: the same call is answered from the memo.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { CID } from 'multiformats/cid';
import { dagJson } from '../../schemas/codecs.ts';
import { UsageError } from '../exit.ts';
import { commandLogger } from '../logging.ts';
import { nodeOptions, type NodeFlags } from '../node-context.ts';
import { remoteOption, type RemoteFlags } from '../remote.ts';
import { runWorkflow } from '../run-workflow.ts';

interface CallFlags extends NodeFlags, RemoteFlags {
  json?: boolean;
  fuel?: string;
  memory?: string;
  time?: string;
  nonce: string;
}

/** An argument as the user typed it: JSON when it parses (`2`, `"2"`, `[1,2]`), else the text. */
export function parseArg(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function limit(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new UsageError(`${flag} must be a positive integer (got ${value})`);
  return n;
}

/** The one-task workflow of a call (DAG-JSON). */
export function callWorkflow(
  moduleCid: string,
  func: string,
  args: readonly unknown[],
  meta: Record<string, number>,
  nonce: string,
): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      tasks: [
        {
          cause: null,
          meta,
          prf: [],
          run: { input: { args, func }, nnc: nonce, op: 'wasm/run', rsc: `ipfs://${moduleCid}` },
        },
      ],
    }),
  );
}

export function registerCall(program: Command): void {
  nodeOptions(
    remoteOption(
      program
        .command('call')
        .description('Call one function of a Wasm module and print its result (memoized)')
        .argument('<module>', 'the module: a CID, or a local .wasm file (stored on the way)')
        .argument('<func>', 'the exported function')
        .argument('[args...]', 'arguments, each JSON when it parses, else a string')
        .option('--json', 'print the receipt line (as ipvm run --json) instead of the value')
        .option('--fuel <n>', 'fuel limit')
        .option('--memory <bytes>', 'memory limit')
        .option('--time <ms>', 'time limit')
        .option('--nonce <text>', 'a nonce, to run again instead of answering from the memo', ''),
    ),
  )
    .addHelpText(
      'after',
      `
Prints the result as JSON on stdout; an error result goes to stderr with exit 1. Goes through the
node running on the data directory (or --node URL) like ipvm run.

Examples:
  ipvm call .ipvm/add-one.wasm add_one 41          # 42
  ipvm call bafkrei… add 1 2 --json
  ipvm call module.wasm greet world                 # "world" is not JSON: passed as a string`,
    )
    .action(
      async (
        module: string,
        func: string,
        rawArgs: string[],
        flags: CallFlags,
        command: Command,
      ) => {
        const meta: Record<string, number> = {};
        for (const [key, flag] of [
          ['fuel', '--fuel'],
          ['memory', '--memory'],
          ['time', '--time'],
        ] as const) {
          const v = limit(flags[key], flag);
          if (v !== undefined) meta[key] = v;
        }
        const args = rawArgs.map(parseArg);
        let cid: string | undefined;
        try {
          cid = CID.parse(module).toString();
        } catch {
          cid = undefined; // a file
        }
        const file = cid === undefined ? await readFile(module) : undefined;
        let done = false;
        await runWorkflow(
          flags,
          commandLogger(command),
          async (add) =>
            callWorkflow(cid ?? (await add(new Uint8Array(file!))), func, args, meta, flags.nonce),
          () => ({
            print(l) {
              if (done) return;
              done = true;
              if (flags.json === true) process.stdout.write(JSON.stringify(l) + '\n');
              else if (l.out[0] === 'ok') process.stdout.write(dagJsonText(l.out[1]) + '\n');
              else process.stderr.write(`ipvm: ${func} failed: ${JSON.stringify(l.out[1])}\n`);
              if (l.out[0] !== 'ok') process.exitCode = 1;
            },
            end(_workflow, e) {
              if (e.status !== 'completed') process.exitCode = 1;
            },
          }),
        );
      },
    );
}

/** A result value as JSON text (links and bytes in their DAG-JSON form). */
function dagJsonText(value: unknown): string {
  return JSON.stringify(value) ?? dagJson.stringify(null);
}
