/**
 * Rewrites for the console's "re-run with a new nonce": every task gets a fresh nonce, so every
 * instruction CID changes and nothing is answered from the memo; awaits between the tasks are
 * rewritten to the new CIDs (in dependency order), awaits outside the workflow are kept.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { CID } from 'multiformats/cid';
import { cidOf } from '../../schemas/cid.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { instructionValue, parseWorkflow } from '../../schemas/model.ts';
import type { Task, Workflow } from '../../schemas/types.ts';
import { awaitOf } from './console-views.ts';

function relink(value: IpldValue, renamed: Map<string, CID>): IpldValue {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map((v) => relink(v, renamed));
  if (CID.asCID(value) !== null) return value;
  const a = awaitOf(value);
  if (a !== null) {
    const to = renamed.get(a.instruction.toString());
    return to === undefined ? value : { [a.selector]: to };
  }
  const copy: Record<string, IpldValue> = {};
  for (const [k, v] of Object.entries(value as Record<string, IpldValue>))
    copy[k] = relink(v, renamed);
  return copy;
}

/** The workflow with a fresh random nonce on every task (a new workflow CID). */
export function withFreshNonces(body: IpldValue): Workflow {
  const parsed = parseWorkflow(body);
  const renamed = new Map<string, CID>();
  const tasks = new Array<Task>(parsed.tasks.length);
  for (const i of parsed.order) {
    const t = parsed.tasks[i]!.task;
    const run = {
      ...t.run,
      input: relink(t.run.input, renamed),
      nnc: new Uint8Array(randomBytes(12)),
    };
    renamed.set(parsed.tasks[i]!.instruction.toString(), cidOf(instructionValue(run)));
    tasks[i] = { ...t, run };
  }
  return { tasks };
}
