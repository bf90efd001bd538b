// `ipvm graph FILE`: the task DAG of a workflow as Mermaid text or an SVG picture, coloured by
// what the log says about each task when a data directory is given.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { parseWorkflow } from '../../schemas/model.ts';
import { UsageError } from '../exit.ts';
import { toMermaid, toSvg } from '../graph.ts';
import { applyReceipts, readReceipts, tasksOf } from '../log-view.ts';
import { readInput } from '../io.ts';
import { logOptions, openReadLog, type NodeFlags } from '../node-context.ts';

interface GraphFlags extends NodeFlags {
  format: string;
}

export function registerGraph(program: Command): void {
  const command = logOptions(
    program
      .command('graph')
      .description(
        'Draw the task DAG of a workflow as Mermaid text or SVG, coloured by status with a data dir',
      )
      .argument('<file>', 'workflow file (DAG-JSON, DAG-CBOR or {name, workflow}), or - for stdin')
      .option('--format <mermaid|svg>', 'output format', 'mermaid'),
  );
  command
    .addHelpText(
      'after',
      `
Edges point from a task to the tasks awaiting it (dashed: await/error or await/*). With a data
directory (--data-dir, IPVM_DATA_DIR or the config file), nodes are coloured: executed ok,
replayed from the memo, error, or pending.

Examples:
  ipvm graph examples/workflows/add-one.json
  ipvm graph examples/workflows/add-one.json --format svg --data-dir .ipvm > dag.svg`,
    )
    .action(async (file: string, flags: GraphFlags) => {
      if (flags.format !== 'mermaid' && flags.format !== 'svg')
        throw new UsageError(`--format must be mermaid or svg (got ${flags.format})`);
      const bytes = await readInput(file, readFile);
      const parsed = parseWorkflow(bytes);
      const tasks = tasksOf(bytes);
      const source = command.getOptionValueSource('dataDir');
      const colour = flags.dataDir !== undefined && source !== undefined && source !== 'default';
      if (colour) {
        const opened = await openReadLog(flags);
        try {
          applyReceipts(
            parsed.cid.toString(),
            tasks,
            await readReceipts(opened.log, opened.topology),
          );
        } finally {
          await opened[Symbol.asyncDispose]();
        }
      }
      const out =
        flags.format === 'svg'
          ? toSvg(parsed.cid.toString(), tasks, colour)
          : toMermaid(parsed.cid.toString(), tasks, colour);
      process.stdout.write(out);
    });
}
