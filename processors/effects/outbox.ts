/**
 * The outbox of managed effects. Before a destructive request goes out, its intent — the exact
 * request with its `Idempotency-Key` — is appended to `effects.managed` and durable; the outcome
 * (a receipt) follows on the same stream. The node folds the stream on start: an intent without
 * an outcome is a task to run again, and running it sends the recorded request again, byte for
 * byte, with the same key. So one key never names two different requests: exactly once toward
 * servers that honour `Idempotency-Key`, at least once toward others.
 *
 * @module
 */
import type { EffectIntentEvent, NodeEvent, TaskReadyEvent } from '../../schemas/events.ts';
import type { IpldMap } from '../../schemas/ipld.ts';
import type { RunResult } from '../engine/execute-tasks.ts';
import { EffectError } from './errors.ts';
import type { EffectCall, EffectRunner } from './effect-runner.ts';
import type { RequestTemplate } from './secret-request.ts';
import { IDEMPOTENCY_HEADER, idempotencyKey } from './idempotency.ts';
import { effectKind } from './ops.ts';

/** The outbox. */
export interface Outbox {
  /** Folds an event of `effects.managed`: intents are remembered, outcomes settle them. */
  observe(event: NodeEvent): void;
  /** Tasks whose intent has no outcome yet (to run again after a crash). */
  pending(): TaskReadyEvent[];
  /**
   * Sends a managed effect: the recorded request when the instruction has an intent, else a new
   * intent appended (durably) first.
   */
  send(
    ready: TaskReadyEvent,
    call: EffectCall,
    options?: { signal?: AbortSignal },
  ): Promise<RunResult>;
}

/** Dependencies of {@link createOutbox}. */
export interface OutboxInit {
  effects: EffectRunner;
  /** Appends an intent to `effects.managed`; resolves once it is durable. */
  append(intent: EffectIntentEvent): Promise<void>;
  clock?: () => number;
  onProgress?: (event: OutboxProgress) => void;
}

/** Progress events of the outbox. */
export type OutboxProgress =
  | { type: 'effect:intent'; instruction: string; key: string }
  | { type: 'effect:resend'; instruction: string; key: string };

export function createOutbox(init: OutboxInit): Outbox {
  const clock = init.clock ?? Date.now;
  const intents = new Map<string, EffectIntentEvent>();
  return {
    observe(event) {
      if (event.type === 'effect/intent') intents.set(event.instruction.toString(), event);
      else if (event.type === 'receipt' && effectKind(event.run.op) === 'managed')
        intents.delete(event.instruction.toString());
    },
    pending: () =>
      [...intents.values()].map((i) => ({
        type: 'task/ready',
        workflow: i.workflow,
        instruction: i.instruction,
        invocation: i.invocation,
        task: i.task,
        args: i.args,
        at: i.at,
      })),
    async send(ready, call, options) {
      const instruction = ready.instruction.toString();
      let intent = intents.get(instruction);
      if (intent !== undefined) {
        init.onProgress?.({ type: 'effect:resend', instruction, key: intent.key });
      } else {
        let req: RequestTemplate;
        try {
          req = init.effects.request(call);
        } catch (err) {
          if (err instanceof EffectError) {
            return {
              ok: false,
              error: { kind: err.kind, message: err.message },
              fuel: 0,
              durationMs: 0,
            };
          }
          throw err;
        }
        const key = idempotencyKey(ready.instruction, ready.task.run.nnc);
        req.headers[IDEMPOTENCY_HEADER] = key;
        intent = intentOf(ready, key, req, clock());
        await init.append(intent); // durable before anything leaves
        intents.set(instruction, intent);
        init.onProgress?.({ type: 'effect:intent', instruction, key });
      }
      const r = intent.request;
      return init.effects.send(
        call,
        {
          method: r.method,
          url: r.url,
          headers: r.headers as RequestTemplate['headers'],
          body: r.body ?? undefined,
          ...(r.bodyValue === undefined ? {} : { bodyValue: r.bodyValue }),
        },
        options,
      );
    },
  };
}

function intentOf(
  ready: TaskReadyEvent,
  key: string,
  req: RequestTemplate,
  at: number,
): EffectIntentEvent {
  return {
    type: 'effect/intent',
    workflow: ready.workflow,
    instruction: ready.instruction,
    invocation: ready.invocation,
    task: ready.task,
    args: ready.args,
    key,
    // Secrets stay named here (`{"secret": NAME}`): resolved only when the request is sent.
    request: {
      method: req.method,
      url: req.url,
      headers: req.headers as IpldMap,
      body: req.body ?? null,
      ...(req.bodyValue === undefined ? {} : { bodyValue: req.bodyValue }),
    },
    at,
  };
}
