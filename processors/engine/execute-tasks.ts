/**
 * execute: runs ready tasks and turns their results into receipts.
 *
 * Memo first: an instruction with a receipt is never run again — its receipt is replayed for
 * the task's workflow (and nothing at all is written when that workflow already has it, e.g. a
 * task read again after a crash). Two tasks of one instruction in flight at once run it once.
 * Retryable failures (content missing, worker lost, a queue deadline) are retried with backoff
 * by the task's policy (`meta.retry`, else {@link ExecuteTasksInit.taskRetry}); when retries run
 * out the receipt says so with `retryable: true` and `attempts`, and is not memoized, so a later
 * run of the workflow runs the task again. Traps and limit breaches
 * are terminal error receipts.
 *
 * @module
 */
import type { OperatorFunction } from '../rx/index.ts';
import type { ReceiptEvent, TaskReadyEvent } from '../../schemas/events.ts';
import { isIpldMap, type IpldValue } from '../../schemas/ipld.ts';
import { WASM_RUN, readLimits } from '../../schemas/model.ts';
import type { Outcome } from '../../schemas/types.ts';
import { mapBounded } from './operators.ts';
import type { Memo } from './memo.ts';
import { failure, newReceiptEvent, replayedReceiptEvent } from './receipts.ts';
import { DEFAULT_TASK_RETRY, readRetryPolicy, withRetry, type TaskRetryPolicy } from '../retry.ts';
import { RenewingMap } from '../renewing.ts';

/** What the engine asks of a Wasm runtime (see `processors/wasm/`). */
export interface TaskRunner {
  /**
   * Runs `func` of the module `rsc` with `args`. Terminal failures (trap, limit, bad argument)
   * resolve with `ok: false`; transient ones reject with an error whose `retryable` is true.
   */
  execute(request: RunRequest, options?: { signal?: AbortSignal }): Promise<RunResult>;
  /**
   * Whether this runner runs `op` besides `wasm/run` (e.g. the effect ops of
   * `processors/effects/`). Absent: `wasm/run` only; other ops get an `unsupported` receipt.
   */
  supports?(op: string): boolean;
}

/** One call. */
export interface RunRequest {
  /** `ipfs://<cid>` (or a bare CID) of the module. */
  rsc: string;
  func: string;
  args: IpldValue[];
  limits: { fuel?: number; memoryBytes?: number; timeMs?: number };
  /** The instruction's ability (`wasm/run`, `http/get`, …). */
  op?: string;
  /** The ready task this call runs; for ops other than `wasm/run`, `args` is `[input]`. */
  task?: TaskReadyEvent;
}

/** The outcome of a call. */
export type RunResult =
  | { ok: true; value: IpldValue; fuel: number; durationMs: number }
  | { ok: false; error: { kind: string; message: string }; fuel: number; durationMs: number };

/** Dependencies and settings of {@link executeTasks}. */
export interface ExecuteTasksInit {
  memo: Memo;
  runner: TaskRunner;
  nodeId: string;
  /** Tasks run at once. @default 16 */
  concurrency?: number;
  /**
   * Retries of retryable failures, for tasks without `meta.retry`.
   * @default DEFAULT_TASK_RETRY
   */
  taskRetry?: TaskRetryPolicy;
  clock?: () => number;
  signal?: AbortSignal;
  /** Observes each task's fate. */
  onProgress?: (event: ExecuteProgress) => void;
}

/** Progress events of {@link executeTasks}. */
export type ExecuteProgress =
  | { type: 'execute:hit'; instruction: string }
  | { type: 'execute:ran'; instruction: string; ok: boolean; fuel: number; durationMs: number }
  | { type: 'execute:retry'; instruction: string; attempt: number; error: unknown };

/** @default 16 */
export const DEFAULT_CONCURRENCY = 16;

/**
 * The executor as an RxJS operator: ready tasks in (with whatever context `T` the caller needs
 * to commit them), receipt events out — `null` when nothing had to be written.
 */
export function executeTasks<T extends { event: TaskReadyEvent }>(
  init: ExecuteTasksInit,
): OperatorFunction<T, { item: T; receipt: ReceiptEvent | null }> {
  const { memo, runner, nodeId } = init;
  const clock = init.clock ?? Date.now;
  const inFlight = new RenewingMap<string, Promise<ReceiptEvent>>();

  async function run(event: TaskReadyEvent): Promise<ReceiptEvent> {
    const instruction = event.instruction.toString();
    const { run: instr } = event.task;
    const started = clock();
    let out: Outcome;
    let attempts = 1;
    let fuel: number | null = null;
    let durationMs: number | null = null;
    if (instr.op !== WASM_RUN && runner.supports?.(instr.op) !== true) {
      out = failure('unsupported', `op ${instr.op} is not supported by this node`, true);
    } else {
      const func = isIpldMap(instr.input) ? (instr.input.func as string) : '';
      const limits = readLimits(event.task.meta);
      let policy: TaskRetryPolicy | Error;
      try {
        policy = readRetryPolicy(event.task.meta, init.taskRetry ?? DEFAULT_TASK_RETRY);
      } catch (err) {
        policy = err as Error;
      }
      if (policy instanceof Error) out = failure('invalid-meta', policy.message);
      else {
        try {
          const result = await withRetry(
            (attempt) => {
              attempts = attempt;
              return runner.execute(
                {
                  rsc: instr.rsc,
                  func,
                  args: event.args,
                  limits: { fuel: limits.fuel, memoryBytes: limits.memory, timeMs: limits.time },
                  op: instr.op,
                  task: event,
                },
                { signal: init.signal },
              );
            },
            {
              attempts: policy.attempts,
              baseDelayMs: policy.backoffMs,
              maxDelayMs: policy.maxBackoffMs,
              signal: init.signal,
              onRetry: (error, attempt) =>
                init.onProgress?.({ type: 'execute:retry', instruction, attempt, error }),
            },
          );
          fuel = result.fuel;
          durationMs = result.durationMs;
          out = result.ok ? ['ok', result.value] : failure(result.error.kind, result.error.message);
        } catch (err) {
          const e = err as Error & { retryable?: boolean };
          out = failure(
            e.retryable === true ? 'unavailable' : 'internal',
            `${e.name}: ${e.message}${attempts > 1 ? ` (after ${attempts} attempts)` : ''}`,
            true,
          );
          (out[1] as { attempts?: number }).attempts = attempts;
          durationMs = clock() - started;
        }
      }
    }
    const receipt = newReceiptEvent({
      instruction: event.instruction,
      invocation: event.invocation,
      workflow: event.workflow,
      run: instr,
      out,
      fuel,
      durationMs,
      executor: nodeId,
      at: clock(),
    });
    if (attempts > 1) receipt.attempts = attempts;
    memo.put(receipt);
    init.onProgress?.({
      type: 'execute:ran',
      instruction,
      ok: out[0] === 'ok',
      fuel: fuel ?? 0,
      durationMs: durationMs ?? 0,
    });
    return receipt;
  }

  async function handle(item: T): Promise<{ item: T; receipt: ReceiptEvent | null }> {
    const { event } = item;
    const instruction = event.instruction.toString();
    const workflow = event.workflow?.toString() ?? null;
    if (memo.written(instruction, workflow)) return { item, receipt: null };
    const entry = memo.get(instruction);
    if (entry !== undefined) {
      init.onProgress?.({ type: 'execute:hit', instruction });
      return {
        item,
        receipt: replayedReceiptEvent(entry, event.task.run, event.workflow, nodeId, clock()),
      };
    }
    const running = inFlight.get(instruction);
    if (running !== undefined) {
      const first = await running;
      const hit = memo.get(instruction);
      if (hit === undefined) {
        // The first run failed transiently: this workflow gets its own attempt.
        return { item, receipt: await run(event) };
      }
      if (first.workflow?.toString() === workflow) return { item, receipt: null };
      return {
        item,
        receipt: replayedReceiptEvent(hit, event.task.run, event.workflow, nodeId, clock()),
      };
    }
    const promise = run(event);
    inFlight.set(instruction, promise);
    try {
      return { item, receipt: await promise };
    } finally {
      inFlight.delete(instruction);
    }
  }

  return mapBounded(
    (item: T) => (init.signal?.aborted === true ? null : handle(item)),
    init.concurrency ?? DEFAULT_CONCURRENCY,
  );
}
