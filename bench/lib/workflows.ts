// Workflows given byte for byte to both sides of a comparison: N independent `add_one` tasks,
// N-task chains (each task awaits the previous one's instruction CID), and the expected output
// of every task, so both sides can be checked against the same answers.
import type { CID } from 'multiformats/cid';
import { dagJson } from '../../schemas/codecs.ts';
import type { IpldMap, IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';

/** Limits written into every task's `meta` (the example workflow's; Homestar reads them too). */
export const TASK_META: IpldMap = { fuel: 1_000_000, memory: 1_048_576, time: 5_000 };

/** A workflow ready for both sides. */
export interface BenchWorkflow {
  /** The workflow as an IPLD value (links are CIDs). */
  value: IpldValue;
  /** The same as DAG-JSON text. */
  json: string;
  /** Workflow CID as this node computes it. */
  cid: string;
  /** Invocation CID of each task (what receipts name in `ran`), in task order. */
  invocations: string[];
  /** Instruction CID of each task, in task order. */
  instructions: string[];
  /** Expected `["ok", value]` output of each task, in task order. */
  expected: number[];
}

export function task(rsc: string, func: string, args: IpldValue[]): IpldMap {
  return {
    run: { rsc, op: 'wasm/run', input: { func, args }, nnc: '' },
    cause: null,
    meta: TASK_META,
    prf: [],
  };
}

function finish(tasks: IpldMap[], expected: number[]): BenchWorkflow {
  const value: IpldMap = { tasks };
  const parsed = parseWorkflow(value);
  return {
    value,
    json: dagJson.stringify(value),
    cid: parsed.cid.toString(),
    invocations: parsed.tasks.map((t) => t.invocation.toString()),
    instructions: parsed.tasks.map((t) => t.instruction.toString()),
    expected,
  };
}

/** `n` independent `add_one(start + i)` tasks. */
export function independent(rsc: string, n: number, start: number): BenchWorkflow {
  const tasks = Array.from({ length: n }, (_, i) => task(rsc, 'add_one', [start + i]));
  return finish(
    tasks,
    tasks.map((_, i) => start + i + 1),
  );
}

/** `add_one(start)`, then `n - 1` tasks each adding one to the previous task's output. */
export function chain(rsc: string, n: number, start: number): BenchWorkflow {
  const tasks: IpldMap[] = [];
  let prev: CID | null = null;
  for (let i = 0; i < n; i++) {
    const t = task(rsc, 'add_one', [prev === null ? start : { 'await/ok': prev }]);
    tasks.push(t);
    prev = parseWorkflow({ tasks: [t] }).tasks[0]!.instruction;
  }
  return finish(
    tasks,
    tasks.map((_, i) => start + i + 1),
  );
}
