// Workflows given byte for byte to both sides of a comparison: N independent `add_one` tasks,
// N-task chains (each task awaits the previous one's instruction CID), and the expected output
// of every task, so both sides can be checked against the same answers.
import type { CID } from 'multiformats/cid';
import { dagJson } from '../../schemas/codecs.ts';
import type { IpldMap, IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';

/** Limits written into every task's `meta` (the example workflow's; Homestar reads them too). */
export const TASK_META: IpldMap = { fuel: 1_000_000, memory: 1_048_576, time: 5_000 };

/**
 * The image pipeline's limits: a pass over 64 KiB executes over a million instructions, which
 * this node counts (one fuel unit per instruction, wasmtime's model) and stops at `fuel`.
 * Homestar 0.3.0 gives a task `meta.fuel` too but refills it 100 000 units at a time when it
 * runs out (`out_of_fuel_async_yield`), so there it never stops a task: the same workflow on
 * both sides needs a budget its work fits in.
 */
export const IMAGE_META: IpldMap = { ...TASK_META, fuel: 100_000_000 };

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
  expected: IpldValue[];
}

export function task(
  rsc: string,
  func: string,
  args: IpldValue[],
  meta: IpldMap = TASK_META,
): IpldMap {
  return {
    run: { rsc, op: 'wasm/run', input: { func, args }, nnc: '' },
    cause: null,
    meta,
    prf: [],
  };
}

function finish(tasks: IpldMap[], expected: IpldValue[]): BenchWorkflow {
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

/** A grayscale test image of `bytes` pixels (a deterministic pattern from `seed`). */
export function testImage(bytes: number, seed: number): Uint8Array {
  const img = new Uint8Array(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    img[i] = (i & 0xff) ^ (x & 0x3f);
  }
  return img;
}

/**
 * An image-like pipeline on bench/components/image: invert → brighten(+10) → blur → blur →
 * checksum, each task awaiting the previous one's output.
 */
export function imagePipeline(rsc: string, image: Uint8Array): BenchWorkflow {
  const inverted = image.map((b) => 255 - b);
  const brightened = inverted.map((b) => Math.min(255, b + 10));
  const blur = (a: Uint8Array): Uint8Array =>
    a.map((b, i) => Math.floor(((a[i - 1] ?? b) + b + (a[i + 1] ?? b)) / 3));
  const blurred = blur(brightened);
  const blurred2 = blur(blurred);
  const checksum = blurred2.reduce((s, b) => s + b, 0);
  const steps: Array<[string, (prev: CID | null) => IpldValue[]]> = [
    ['invert', () => [image]],
    ['brighten', (p) => [{ 'await/ok': p! }, 10]],
    ['blur', (p) => [{ 'await/ok': p! }]],
    ['blur', (p) => [{ 'await/ok': p! }]],
    ['checksum', (p) => [{ 'await/ok': p! }]],
  ];
  const tasks: IpldMap[] = [];
  let prev: CID | null = null;
  for (const [func, args] of steps) {
    const t = task(rsc, func, args(prev), IMAGE_META);
    tasks.push(t);
    prev = parseWorkflow({ tasks: [t] }).tasks[0]!.instruction;
  }
  return finish(tasks, [inverted, brightened, blurred, blurred2, checksum]);
}
