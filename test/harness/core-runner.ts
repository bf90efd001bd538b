/**
 * A small TaskRunner over plain core modules, for engine tests that must not depend on the
 * component toolchain: numbers in, numbers out, traps as terminal failures. It counts calls so
 * tests can prove that memoized instructions never run.
 */
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';
import * as raw from 'multiformats/codecs/raw';
import type { RunRequest, RunResult, TaskRunner } from '../../processors/engine/execute-tasks.ts';
import { watToWasm } from '../components/build.ts';

export const ENGINE_WAT = `(module
  (func (export "add_one") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "boom") (result i32) unreachable)
  (func (export "slow") (param i32) (result i32)
    (local $i i32)
    (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 20000000))))
    (local.get 0)))`;

export interface CoreRunner extends TaskRunner {
  /** `ipfs://<cid>` of the engine test module. */
  rsc: string;
  /** Calls made so far, by function name. */
  calls: Map<string, number>;
  readonly total: number;
}

/** The engine test module's bytes. */
export function engineModule(): Promise<Uint8Array> {
  return watToWasm(ENGINE_WAT, 'engine.wat');
}

/** A runner over the engine test module (built from {@link ENGINE_WAT} unless given). */
export async function createCoreRunner(wasm?: Uint8Array): Promise<CoreRunner> {
  const bytes = wasm ?? (await engineModule());
  const cid = CID.createV1(raw.code, await sha256.digest(bytes));
  const module = new WebAssembly.Module(bytes);
  const calls = new Map<string, number>();
  let total = 0;
  return {
    rsc: `ipfs://${cid.toString()}`,
    calls,
    get total() {
      return total;
    },
    // A throw inside the executor function rejects the promise (content missing).
    execute: (request: RunRequest) => new Promise<RunResult>((resolve) => resolve(run(request))),
  };
  function run(request: RunRequest): RunResult {
    if (request.rsc !== `ipfs://${cid.toString()}`) {
      throw Object.assign(new Error(`content ${request.rsc} not found`), { retryable: true });
    }
    const started = performance.now();
    const instance = new WebAssembly.Instance(module);
    const fn = instance.exports[request.func] as ((...a: number[]) => number) | undefined;
    calls.set(request.func, (calls.get(request.func) ?? 0) + 1);
    total++;
    if (typeof fn !== 'function') {
      return {
        ok: false,
        error: { kind: 'export', message: `no export ${request.func}` },
        fuel: 0,
        durationMs: 0,
      };
    }
    try {
      const value = fn(...(request.args as number[]));
      return { ok: true, value, fuel: 1, durationMs: performance.now() - started };
    } catch (err) {
      return {
        ok: false,
        error: { kind: 'trap', message: (err as Error).message },
        fuel: 1,
        durationMs: performance.now() - started,
      };
    }
  }
}
