/**
 * Re-execution, the thorough check of a verify job: a seeded sample (or all) of the pure Wasm
 * tasks whose receipts lie in the range is run again, and the receipt CID and output CID each
 * run gives are compared with the recorded ones. Arguments are rebuilt by resolving the
 * instruction's awaits from the receipts in the log. Transient failures and limit breaches
 * (`fuel`, `memory`, `time`: the limits live on the task, not the receipt) are not re-run.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { cidOf } from '../../schemas/cid.ts';
import { decodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import type { VerificationMismatchEvent } from '../../schemas/job-events.ts';
import { isIpldMap, type IpldValue } from '../../schemas/ipld.ts';
import { encodeReceipt, readAwait, WASM_RUN } from '../../schemas/model.ts';
import type { Outcome } from '../../schemas/types.ts';
import type { Log, LogRecord } from '../../streams/log.ts';
import type { TaskRunner } from '../engine/execute-tasks.ts';
import { isRetryableFailure } from '../engine/memo.ts';
import { failure, receiptMeta } from '../engine/receipts.ts';
import type { Finding } from './receipts.ts';

/** Options of {@link reexecute}. */
export interface ReexecuteInit {
  log: Log;
  /** Receipt streams to read (`pure`; awaits may point at `effects.pure` receipts too). */
  streams: readonly string[];
  runner: TaskRunner;
  /** Keeps a record (range and workflow filter). */
  filter: (record: LogRecord) => boolean;
  /** Share of the eligible tasks re-executed, in (0, 1]. @default 1 */
  fraction?: number;
  /** Seed of the sample: the same seed picks the same tasks. @default 0 */
  seed?: number;
  /** Names the re-execution in mismatch events. */
  executor: string;
  clock?: () => number;
  signal?: AbortSignal;
  /** Called once per task considered, with the count so far and the number eligible. */
  onTask?: (done: number, total: number) => void;
}

/** What {@link reexecute} found. */
export interface ReexecuteResult {
  /** Tasks in the range that could be re-executed. */
  eligible: number;
  /** Tasks re-executed (the sample). */
  reexecuted: number;
  findings: Finding[];
  /** One event per finding, for the `verification` stream. */
  events: VerificationMismatchEvent[];
}

/** True when the seeded sample includes this instruction. */
export function sampled(instruction: string, fraction: number, seed: number): boolean {
  if (fraction >= 1) return true;
  const h = createHash('sha256').update(`${seed}\0${instruction}`).digest();
  return h.readUInt32BE(0) / 2 ** 32 < fraction;
}

const LIMIT_KINDS = new Set(['fuel', 'memory', 'time', 'unavailable', 'unsupported']);

function resolveArgs(value: IpldValue, outs: Map<string, Outcome>): IpldValue {
  if (Array.isArray(value)) return value.map((v) => resolveArgs(v, outs));
  if (!isIpldMap(value)) return value;
  const a = readAwait(value, '');
  if (a === null) {
    const out: Record<string, IpldValue> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveArgs(v, outs);
    return out;
  }
  const o = outs.get(a.instruction.toString());
  if (o === undefined)
    throw new Error(`await of ${a.instruction.toString()}, which has no receipt`);
  if (a.selector === 'await/*') return [o[0], o[1]];
  return o[1];
}

/** Re-executes the sample and compares. */
export async function reexecute(init: ReexecuteInit): Promise<ReexecuteResult> {
  const fraction = init.fraction ?? 1;
  const seed = init.seed ?? 0;
  const clock = init.clock ?? Date.now;
  const outs = new Map<string, Outcome>();
  const candidates: Array<{ record: LogRecord; event: ReceiptEvent }> = [];
  for (const stream of init.streams) {
    for await (const record of init.log.read(stream, { signal: init.signal })) {
      let event;
      try {
        event = decodeEvent(record.value);
      } catch {
        continue; // located by the receipt check
      }
      if (event.type !== 'receipt' || isRetryableFailure(event.body.out)) continue;
      const key = event.instruction.toString();
      if (!outs.has(key)) outs.set(key, event.body.out);
      if (event.replayed || event.run.op !== WASM_RUN || !init.filter(record)) continue;
      const out = event.body.out;
      if (
        out[0] === 'error' &&
        isIpldMap(out[1]) &&
        typeof out[1].kind === 'string' &&
        LIMIT_KINDS.has(out[1].kind)
      )
        continue;
      candidates.push({ record, event });
    }
  }
  const result: ReexecuteResult = {
    eligible: candidates.length,
    reexecuted: 0,
    findings: [],
    events: [],
  };
  let done = 0;
  for (const { record, event } of candidates) {
    init.onTask?.(++done, candidates.length);
    const instruction = event.instruction.toString();
    if (!sampled(instruction, fraction, seed)) continue;
    const where = {
      stream: record.stream,
      partition: record.partition,
      offset: record.offset,
      instruction,
    };
    const input = event.run.input as { func?: string; args?: IpldValue[] };
    let out: Outcome;
    try {
      const args = resolveArgs(input.args ?? [], outs) as IpldValue[];
      const r = await init.runner.execute(
        { rsc: event.run.rsc, func: input.func ?? '', args, limits: {} },
        { signal: init.signal },
      );
      out = r.ok ? ['ok', r.value] : failure(r.error.kind, r.error.message);
    } catch (err) {
      result.findings.push({ ...where, reason: `could not re-execute: ${(err as Error).message}` });
      continue;
    }
    result.reexecuted++;
    const receipt = encodeReceipt({
      ran: event.invocation,
      out,
      meta: receiptMeta(event.run),
      iss: null,
      prf: [],
    }).cid;
    const recordedReceipt = event.receipt.toString();
    if (receipt.toString() === recordedReceipt) continue;
    const recorded = cidOf(event.body.out[1]);
    const recomputed = cidOf(out[1]);
    const reason = `re-execution of ${instruction} gave ${out[0]} ${recomputed.toString()} (receipt ${receipt.toString()}), recorded ${event.body.out[0]} ${recorded.toString()} (receipt ${recordedReceipt})`;
    result.findings.push({ ...where, reason });
    result.events.push({
      type: 'verification/mismatch',
      kind: 'reexecute',
      instruction: event.instruction,
      receipt: event.receipt,
      rsc: event.run.rsc,
      func: input.func ?? '',
      executions: [
        { executor: `recorded:${event.executor}`, outcome: event.body.out[0], output: recorded },
        { executor: init.executor, outcome: out[0], output: recomputed },
      ],
      reason,
      at: clock(),
    });
  }
  return result;
}
