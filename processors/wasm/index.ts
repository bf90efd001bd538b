// Public face of the Wasm area: run `wasm/run` instructions by module CID.
export type {
  Executor,
  ExecutorInit,
  ExecutorStats,
  ExecutorLogger,
  ExecutorProgress,
  ExecuteRequest,
  ExecuteResult,
  ExecuteSuccess,
  ExecuteFailure,
  ExecuteLimits,
  ExecuteOptions,
} from './types.ts';
export {
  createExecutor,
  DEFAULT_FUEL,
  DEFAULT_MEMORY_BYTES,
  DEFAULT_TIME_MS,
  DEFAULT_INLINE_FUEL,
  DEFAULT_INLINE_MEMORY_BYTES,
  DEFAULT_MAX_MODULES,
  DEFAULT_QUEUE_TIMEOUT_MS,
} from './executor.ts';
export {
  WasmTaskError,
  ValueMappingError,
  WorkerLostError,
  ExecutorClosedError,
  QueueTimeoutError,
  type WasmFailureKind,
} from './errors.ts';
export type { GuestLog, GuestLogLevel } from './host.ts';
export { embedWit, newComponent } from './jco.ts';
