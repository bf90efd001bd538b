/**
 * The node's structured logger: pino, JSON lines on standard error by default, namespaced by a
 * `component` field. This is the only module that imports pino; the rest of the code takes a
 * {@link Logger} as a dependency (or none).
 *
 * @example
 * ```ts
 * const logger = createLogger({ level: 'debug' });
 * const api = logger.child({ component: 'api' });
 * api.info({ port: 1337 }, 'listening');
 * ```
 *
 * @module
 */
import { pino, type DestinationStream } from 'pino';

/** The levels, most verbose first; `silent` logs nothing. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** @default 'info' */
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

/** What the code logs through: the subset of pino's logger the project uses. */
export interface Logger {
  /** Very fine-grained events (every record). */
  trace(obj: object, msg?: string): void;
  /** Diagnostic events (every task, every request). */
  debug(obj: object, msg?: string): void;
  /** Lifecycle events (started, listening, drained). */
  info(obj: object, msg?: string): void;
  /** Something went wrong but the node carries on (a dead letter, a dropped client). */
  warn(obj: object, msg?: string): void;
  /** Something failed (an infrastructure error). */
  error(obj: object, msg?: string): void;
  /** A logger that adds `bindings` (e.g. `{ component: 'api' }`) to every line. */
  child(bindings: Record<string, unknown>): Logger;
  /** The current level. */
  readonly level: string;
}

/** Construction options of {@link createLogger}. */
export interface LoggerInit {
  /** Minimum level written. @default {@link DEFAULT_LOG_LEVEL} */
  level?: LogLevel;
  /** Where lines go. @default standard error (file descriptor 2), written synchronously */
  destination?: DestinationStream;
  /** Added to every line as `name`. @default 'ipvm' */
  name?: string;
}

/** True when `value` is one of {@link LOG_LEVELS}. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * Creates a logger.
 * @throws {TypeError} on an unknown level.
 */
export function createLogger(init: LoggerInit = {}): Logger {
  const level = init.level ?? DEFAULT_LOG_LEVEL;
  if (!isLogLevel(level))
    throw new TypeError(`log level must be one of ${LOG_LEVELS.join(', ')} (got ${String(level)})`);
  // Synchronous writes: a CLI that exits right after logging must not lose the last lines.
  const destination = init.destination ?? pino.destination({ fd: 2, sync: true });
  return pino({ level, name: init.name ?? 'ipvm', base: { pid: process.pid } }, destination);
}

/** A logger that drops everything (for tests and library callers that want none). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
