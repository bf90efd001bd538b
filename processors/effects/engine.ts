/**
 * The seam between the engine and effects: a {@link TaskRunner} that dispatches by `op` —
 * `wasm/run` to the Wasm runner, pure effects to the {@link EffectRunner}, managed effects
 * through the {@link Outbox} — and the outbox the node folds `effects.managed` into.
 *
 * @module
 */
import type { EffectIntentEvent, ReceiptEvent } from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { WASM_RUN } from '../../schemas/model.ts';
import type { TaskRunner } from '../engine/execute-tasks.ts';
import type { EffectRunner } from './effect-runner.ts';
import { emittedWorkflow } from './emitted.ts';
import { effectKind, isEffectOp } from './ops.ts';
import { createOutbox, type Outbox, type OutboxProgress } from './outbox.ts';
export type { OutboxProgress };

/** What {@link attachEffects} gives the node. */
export interface AttachedEffects {
  /** The runner the executor calls. */
  runner: TaskRunner;
  outbox: Outbox;
  /**
   * Submits the effects a fresh receipt asks for (its `fx`) as a follow-up workflow; call it
   * before the receipt is written. Resolves once the submission is appended.
   */
  emit(receipt: ReceiptEvent): Promise<void>;
}

/** Dependencies of {@link attachEffects}. */
export interface AttachEffectsInit {
  wasm: TaskRunner;
  effects: EffectRunner;
  /** Appends an intent to `effects.managed` and resolves when it is durable. */
  appendIntent(intent: EffectIntentEvent): Promise<void>;
  /** Submits a workflow (the node's `submit`). */
  submit(workflow: IpldValue): Promise<unknown>;
  /** Refuses a follow-up workflow with a reason (see `NodeInit.screenFollowUp`). */
  screen?: (workflow: IpldValue, cause: ReceiptEvent) => string | undefined;
  onProgress?: (event: EffectsProgress) => void;
}

/** Progress events of effects. */
export type EffectsProgress =
  | OutboxProgress
  | { type: 'effect:emitted'; receipt: string; workflow: IpldValue }
  | { type: 'effect:emit-refused'; receipt: string; reason: string };

/** Wires effects into a node's executor. */
export function attachEffects(init: AttachEffectsInit): AttachedEffects {
  const { wasm, effects } = init;
  const outbox = createOutbox({
    effects,
    append: (intent) => init.appendIntent(intent),
    onProgress: init.onProgress,
  });
  const runner: TaskRunner = {
    supports: (op) => op === WASM_RUN || isEffectOp(op) || wasm.supports?.(op) === true,
    execute(request, options) {
      const op = request.op ?? WASM_RUN;
      const ready = request.task;
      const kind = effectKind(op);
      if (kind === undefined || ready === undefined) return wasm.execute(request, options);
      const call = {
        op,
        rsc: request.rsc,
        input: request.args[0] ?? null,
        instruction: ready.instruction.toString(),
        timeMs: request.limits.timeMs,
      };
      return kind === 'pure' ? effects.run(call, options) : outbox.send(ready, call, options);
    },
  };
  return {
    runner,
    outbox,
    async emit(receipt) {
      const emitted = emittedWorkflow(receipt);
      if (emitted === null) return;
      const key = receipt.receipt.toString();
      const refuse = (reason: string): void =>
        init.onProgress?.({ type: 'effect:emit-refused', receipt: key, reason });
      if ('error' in emitted) return refuse(emitted.error);
      const screened = init.screen?.(emitted.workflow, receipt);
      if (screened !== undefined) return refuse(screened);
      await init.submit(emitted.workflow);
      init.onProgress?.({ type: 'effect:emitted', receipt: key, workflow: emitted.workflow });
    },
  };
}
