/**
 * Optimistic verification as a seam around the engine's {@link TaskRunner}: a task whose
 * `meta.verification` is `{"optimistic": {"confirmations": N}}` is executed N times
 * independently (each call a fresh instance, on its own runner when several are given) and its
 * result is returned — hence published — only when all N agree on the outcome and the output
 * CID. A disagreement becomes a terminal error result (`kind: "verification"`) naming every
 * executor and the output CID it got, and is reported to `onMismatch` (the node appends it to
 * the `verification` stream). Tasks without `meta.verification` run once, untouched.
 *
 * @example
 * ```ts
 * const runner = verifyingRunner({ runner: wasmRunner(executor), nodeId, onMismatch: record });
 * await createNode({ log, runner });
 * ```
 *
 * @module
 */
import { cidOf } from '../../schemas/cid.ts';
import { isIpldMap, type IpldValue } from '../../schemas/ipld.ts';
import type { VerificationMismatchEvent, VerifiedExecution } from '../../schemas/job-events.ts';
import type { RunRequest, RunResult, TaskRunner } from '../engine/execute-tasks.ts';
import { VerificationConfigError } from './errors.ts';

/** Confirmations a task may ask for at most. @default 16 */
export const MAX_CONFIRMATIONS = 16;

/** Dependencies of {@link verifyingRunner}. */
export interface VerifyingRunnerInit {
  /** The runner of the first execution (and of all of them without `runners`). */
  runner: TaskRunner;
  /** Independent runners (separate executors or workers); execution i uses `runners[i % n]`. */
  runners?: readonly TaskRunner[];
  /** Names executions `<nodeId>#1 … #N`. */
  nodeId: string;
  /** Receives each disagreement (the node appends it to the `verification` stream). */
  onMismatch?: (event: VerificationMismatchEvent) => void;
  /** @default Date.now */
  clock?: () => number;
}

/**
 * The confirmations a task's `meta` asks for: 1 when it asks for none.
 * @throws {VerificationConfigError} naming the bad field
 */
export function confirmationsOf(meta: IpldValue | undefined): number {
  if (!isIpldMap(meta) || meta.verification === undefined) return 1;
  const v = meta.verification;
  if (!isIpldMap(v)) throw new VerificationConfigError('meta.verification', 'expected a map');
  if (v.optimistic === undefined) return 1;
  const o = v.optimistic;
  if (!isIpldMap(o))
    throw new VerificationConfigError('meta.verification.optimistic', 'expected a map');
  const n = o.confirmations;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_CONFIRMATIONS)
    throw new VerificationConfigError(
      'meta.verification.optimistic.confirmations',
      `expected an integer 1-${MAX_CONFIRMATIONS}, got ${JSON.stringify(n)}`,
    );
  return n;
}

/** The outcome and output CID of a result, as verification compares them. */
export function executionOf(executor: string, result: RunResult): VerifiedExecution {
  const value: IpldValue = result.ok
    ? result.value
    : { kind: result.error.kind, message: result.error.message };
  return { executor, outcome: result.ok ? 'ok' : 'error', output: cidOf(value) };
}

/** Wraps a runner with optimistic verification. */
export function verifyingRunner(init: VerifyingRunnerInit): TaskRunner {
  const runners =
    init.runners !== undefined && init.runners.length > 0 ? init.runners : [init.runner];
  const clock = init.clock ?? Date.now;
  return {
    async execute(request: RunRequest, options) {
      let n: number;
      try {
        n = confirmationsOf(request.task?.task.meta);
      } catch (err) {
        return {
          ok: false,
          error: { kind: 'verification', message: (err as Error).message },
          fuel: 0,
          durationMs: 0,
        };
      }
      if (n === 1) return init.runner.execute(request, options);
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) => runners[i % runners.length]!.execute(request, options)),
      );
      const executions = results.map((r, i) => executionOf(`${init.nodeId}#${i + 1}`, r));
      const first = executions[0]!;
      const agree = executions.every(
        (e) => e.outcome === first.outcome && e.output.equals(first.output),
      );
      if (agree) return results[0]!;
      const listed = executions
        .map((e) => `${e.executor} → ${e.outcome} ${e.output.toString()}`)
        .join(', ');
      const where = request.task?.instruction.toString() ?? `${request.rsc}#${request.func}`;
      const reason = `optimistic verification of ${where}: ${n} executions disagree: ${listed}`;
      init.onMismatch?.({
        type: 'verification/mismatch',
        kind: 'optimistic',
        instruction: request.task?.instruction ?? null,
        receipt: null,
        rsc: request.rsc,
        func: request.func,
        executions,
        reason,
        at: clock(),
      });
      const fuel = results.reduce((s, r) => s + r.fuel, 0);
      const durationMs = Math.max(...results.map((r) => r.durationMs));
      return { ok: false, error: { kind: 'verification', message: reason }, fuel, durationMs };
    },
  };
}
