// `ipvm inspect FILE|-`: parse a workflow and print the CIDs a node would use for it.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseWorkflow } from '../../schemas/index.ts';
import { effectKind } from '../../processors/effects/ops.ts';
import { readInput } from '../io.ts';

/** The JSON printed by `ipvm inspect` (a contract other tools rely on). */
export interface InspectOutput {
  workflow: string;
  name?: string;
  tasks: Array<{
    index: number;
    instruction: string;
    task: string;
    invocation: string;
    awaits: string[];
    external: string[];
    /** Effect tasks only: what they reach and which effect stream records them. */
    effect?: { op: string; rsc: string; kind: 'pure' | 'managed' };
  }>;
  warnings: string[];
}

function effectOf(op: string, rsc: string): { effect?: NonNullable<InspectOutput['tasks'][number]['effect']> } {
  const kind = effectKind(op);
  return kind === undefined ? {} : { effect: { op, rsc, kind } };
}

export function inspectWorkflow(bytes: Uint8Array): InspectOutput {
  const parsed = parseWorkflow(bytes);
  return {
    workflow: parsed.cid.toString(),
    ...(parsed.name === null ? {} : { name: parsed.name }),
    tasks: parsed.tasks.map((t) => ({
      index: t.index,
      instruction: t.instruction.toString(),
      task: t.taskCid.toString(),
      invocation: t.invocation.toString(),
      awaits: t.awaits.map((a) => a.instruction.toString()),
      external: parsed.external.filter((e) => e.task === t.index).map((e) => e.instruction.toString()),
      ...effectOf(t.task.run.op, t.task.run.rsc),
    })),
    warnings: parsed.warnings,
  };
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('Parse a workflow (DAG-JSON, DAG-CBOR or {name, workflow}) and print its CIDs as JSON')
    .argument('<file>', 'workflow file, or - for standard input')
    .addHelpText(
      'after',
      '\nExamples:\n  ipvm inspect examples/workflows/add-one.json\n  cat workflow.cbor | ipvm inspect -',
    )
    .action(async (file: string) => {
      const bytes = await readInput(file, readFile);
      const out = inspectWorkflow(bytes);
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    });
}
