// The console: a web view of the node served by the API (read model, methods, static files).
export {
  createConsoleModel,
  kindOfOp,
  DEFAULT_MAX_ENDED_WORKFLOWS,
  DEFAULT_MAX_DEAD_LETTERS,
} from './console-model.ts';
export type * from './console-model.ts';
export { createConsoleRpc, CONSOLE_FORBIDDEN, NOTIFY_INTERVAL_MS } from './console-rpc.ts';
export type { ConsoleRpc, ConsoleRpcInit } from './console-rpc.ts';
export { loadConsoleFiles, CONSOLE_DIR } from './console-static.ts';
export type { ConsoleFiles } from './console-static.ts';
export { createMemoSearch } from './console-search.ts';
export type { MemoSearch, MemoHit, MemoSearchResult } from './console-search.ts';
