/**
 * The composition root: a node described as data ({@link NodeConfig}) and built in one place
 * ({@link openNode}), plus the lighter openers read-only commands use (a log, the authority's
 * receipt check, a task runner without a node).
 *
 * @module
 */
export { ConfigError } from './config.ts';
export type { ApiConfig, AuthConfig, LogConfig, NodeConfig, TablesConfig } from './config.ts';
export { openNode, type OpenNode } from './open-node.ts';
export type { Services } from './open-services.ts';
export { NoLogError, openLog, openReadLog, openWriteLog, type OpenLog } from './open-log.ts';
export { openAuthority, openReceiptCheck } from './open-authority.ts';
export { openRunner, type OpenRunner } from './open-runner.ts';
