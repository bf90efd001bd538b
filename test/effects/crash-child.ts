// A node process for the effects crash test. Usage:
//   crash-child.ts <file-log-dir> <workflow.json> <allow-net>
// Submits the workflow unless it is already there, runs until it ends, prints END and exits.
import { readFile } from 'node:fs/promises';
import { createFileLog } from '../../streams/file/index.ts';
import { createNode } from '../../processors/engine/node.ts';
import {
  createEffectRunner,
  createHttpClient,
  parseAllowList,
} from '../../processors/effects/index.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { createCoreRunner } from '../harness/core-runner.ts';

const [dir, file, allow] = process.argv.slice(2) as [string, string, string];
const bytes = new Uint8Array(await readFile(file));
const parsed = parseWorkflow(bytes);
const log = createFileLog({ dir });
const effects = createEffectRunner({ http: createHttpClient({ allow: parseAllowList(allow) }) });
const node = await createNode({
  log,
  runner: await createCoreRunner(),
  effects,
  nodeId: `crash-${process.pid}`,
  concurrency: 8,
  commitIntervalMs: 20,
});
process.stdout.write('UP\n');
await node.submit(bytes);
const end = await node.ended(parsed.cid);
await node.close();
await effects.close();
await log.close();
process.stdout.write(`END ${end.type}\n`);
process.exit(0);
