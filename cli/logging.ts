// Logging for every command: `--log-level` (IPVM_LOG_LEVEL, config `logLevel`) is checked before
// any command runs, and the node's progress events become log lines at the levels below.
import type { Command } from 'commander';
import { createLogger, isLogLevel, LOG_LEVELS, type Logger } from '../processors/logger.ts';
import type { NodeProgress } from '../processors/engine/node.ts';
import { UsageError } from './exit.ts';

/** The logger of a command, at the level of `--log-level` / IPVM_LOG_LEVEL / the config file. */
export function commandLogger(command: Command): Logger {
  const level = command.optsWithGlobals<{ logLevel?: string }>().logLevel ?? 'info';
  if (!isLogLevel(level))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got ${level})`);
  return createLogger({ level });
}

/**
 * Logs a node's progress events: tasks at debug, retries and dead letters at warn, recovery at
 * info (at debug for a command whose node lives only as long as one workflow).
 */
export function logProgress(
  log: Logger,
  options: { recovery?: 'info' | 'debug' } = {},
): (e: NodeProgress) => void {
  return (e) => {
    switch (e.type) {
      case 'node:recovered':
        log[options.recovery ?? 'info'](
          {
            receipts: e.receipts,
            invocations: e.invocations,
            emitted: e.emitted,
            ms: Math.round(e.ms),
          },
          'recovered',
        );
        break;
      case 'node:dead-letter':
        log.warn(
          { stream: e.stream, partition: e.partition, offset: e.offset, reason: e.reason },
          'dead letter',
        );
        break;
      case 'node:await-unknown':
        for (const a of e.awaits)
          log.warn(
            { workflow: e.workflow, task: a.task, path: a.path, instruction: a.instruction },
            `${a.path}: awaits ${a.instruction}, which is not produced by this workflow and not in the memo (failing after ${e.timeoutMs} ms)`,
          );
        break;
      case 'node:error':
        log.error({ err: e.error }, 'node error');
        break;
      case 'execute:ran':
        log.debug(
          { instruction: e.instruction, ok: e.ok, fuel: e.fuel, ms: e.durationMs },
          'task executed',
        );
        break;
      case 'execute:hit':
        log.debug({ instruction: e.instruction }, 'task answered from the memo');
        break;
      case 'execute:retry':
        log.warn({ instruction: e.instruction, attempt: e.attempt, err: e.error }, 'task retried');
        break;
      default:
        break;
    }
  };
}
