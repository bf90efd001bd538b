/**
 * The workflow a tick submits: the schedule's workflow with every task's nonce derived from the
 * schedule name and the tick time, and every await inside it re-pointed at the renamed
 * instructions. The result is a pure function of (workflow, name, tick): two nodes, or a
 * restarted one, firing the same tick submit the same workflow CID, so it runs once.
 *
 * @module
 */
import { cidOfBytes } from '../../schemas/cid.ts';
import { dagCbor } from '../../schemas/codecs.ts';
import { isIpldMap, type IpldMap, type IpldValue } from '../../schemas/ipld.ts';
import {
  instructionValue,
  parseWorkflow,
  readAwait,
  type ParsedWorkflow,
} from '../../schemas/model.ts';
import type { Nonce } from '../../schemas/types.ts';
import { ScheduleError } from './errors.ts';

/** The submission name of a tick: `cron:<schedule>@<ISO time>`. */
export function tickName(schedule: string, tickMs: number): string {
  return `cron:${schedule}@${new Date(tickMs).toISOString()}`;
}

/** The schedule and tick of a submission name made by {@link tickName}, or null. */
export function parseTickName(name: string | null): { schedule: string; tickMs: number } | null {
  if (name === null || !name.startsWith('cron:')) return null;
  const at = name.lastIndexOf('@');
  if (at < 0) return null;
  const tickMs = Date.parse(name.slice(at + 1));
  return Number.isFinite(tickMs) ? { schedule: name.slice(5, at), tickMs } : null;
}

function nonceFor(original: Nonce, tick: string): string {
  const base = typeof original === 'string' ? original : Buffer.from(original).toString('hex');
  return base === '' ? tick : `${base}|${tick}`;
}

function repoint(value: IpldValue, renamed: Map<string, IpldValue>): IpldValue {
  if (Array.isArray(value)) return value.map((v) => repoint(v, renamed));
  if (isIpldMap(value)) {
    const a = readAwait(value, '');
    if (a !== null) {
      const to = renamed.get(a.instruction.toString());
      return to === undefined ? value : { [a.selector]: to };
    }
    const out: IpldMap = {};
    for (const [k, v] of Object.entries(value)) out[k] = repoint(v, renamed);
    return out;
  }
  return value;
}

/**
 * The submission of one tick: `{name, workflow}` (the name is not part of the CID) and its
 * parse.
 * @throws {ScheduleError} when the schedule's workflow is not a valid workflow (`target.…`)
 */
export function tickWorkflow(
  workflow: IpldValue,
  schedule: string,
  tickMs: number,
): { submission: IpldValue; parsed: ParsedWorkflow } {
  let base: ParsedWorkflow;
  try {
    base = parseWorkflow(workflow);
  } catch (err) {
    throw new ScheduleError(
      `target.workflow.${(err as { path?: string }).path ?? ''}`,
      (err as Error).message,
      {
        cause: err,
      },
    );
  }
  const name = tickName(schedule, tickMs);
  const renamed = new Map<string, IpldValue>();
  const tasks = new Array<IpldValue>(base.tasks.length);
  for (const index of base.order) {
    const { task, instruction } = base.tasks[index]!;
    const run = {
      ...task.run,
      input: repoint(task.run.input, renamed),
      nnc: nonceFor(task.run.nnc, name),
    };
    const cid = cidOfBytes(dagCbor.encode(instructionValue(run)));
    renamed.set(instruction.toString(), cid);
    tasks[index] = { ...task, run };
  }
  const submission: IpldValue = { name, workflow: { tasks } };
  return { submission, parsed: parseWorkflow(submission) };
}
