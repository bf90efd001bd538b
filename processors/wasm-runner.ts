/**
 * Adapts the Wasm executor (`processors/wasm/`) to the engine's {@link TaskRunner} port, so the
 * engine depends on a small interface and tests can run it over any runtime.
 *
 * @module
 */
import type { Executor } from './wasm/index.ts';
import type { IpldValue } from '../schemas/ipld.ts';
import type { TaskRunner } from './engine/execute-tasks.ts';

/** A {@link TaskRunner} over an {@link Executor}. */
export function wasmRunner(executor: Executor): TaskRunner {
  return {
    async execute(request, options) {
      const result = await executor.execute(
        { rsc: request.rsc, func: request.func, args: request.args, limits: request.limits },
        options,
      );
      const fuel = Number(result.fuel);
      if (result.ok)
        return { ok: true, value: result.value as IpldValue, fuel, durationMs: result.durationMs };
      return {
        ok: false,
        error: { kind: result.error.kind, message: result.error.message },
        fuel,
        durationMs: result.durationMs,
      };
    },
  };
}
