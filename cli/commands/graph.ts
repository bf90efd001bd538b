// `ipvm graph FILE`: the task DAG of a workflow as Mermaid text or an SVG picture, coloured by
// what the log says about each task when a data directory is given.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parseWorkflow } from '../../schemas/model.ts';
import { resolveDataDir } from '../../processors/content/index.ts';
import { UsageError } from '../exit.ts';
import { toMermaid, toSvg } from '../graph.ts';
import { applyReceipts, readReceipts, tasksOf } from '../../processors/api/log-view.ts';
import { readInput } from '../io.ts';
import { logOptions, type NodeFlags, logPlace } from '../node-context.ts';
import { openReadLog } from '../../processors/compose/open-log.ts';

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
Edges point from a task to the tasks awaiting it (dashed: await/error or await/*). Nodes are
coloured from the data directory (--data-dir, IPVM_DATA_DIR, the config file, or the default .ipvm
when it has a log): executed ok, replayed from the memo, error, or pending; the SVG also shows
each task's output or error under its function name.

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
      const colour = colourFrom(flags, command.getOptionValueSource('dataDir'));
      if (colour !== undefined) {
        const opened = await openReadLog(logPlace({ ...flags, dataDir: colour }));
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
          ? toSvg(parsed.cid.toString(), tasks, colour !== undefined, parsed.name)
          : toMermaid(parsed.cid.toString(), tasks, colour !== undefined);
      process.stdout.write(out);
    });
}

/**
 * The data directory whose log colours the graph: one given by a flag, the environment or the
 * config file, else the default one when something has run there (it has a log); `undefined`
 * draws without states.
 */
export function colourFrom(
  flags: { dataDir?: string; backend?: string },
  source: string | undefined,
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  if (flags.dataDir !== undefined && source !== undefined && source !== 'default')
    return flags.dataDir;
  if ((flags.backend ?? 'file') !== 'file') return undefined;
  const dir = resolveDataDir(undefined, env);
  return existsSync(join(dir, 'log')) ? dir : undefined;
}
