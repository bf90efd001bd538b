/**
 * The range of a replay job: `[from, to)` where each bound is an offset (the same in every
 * partition), a time (the record's append time), or a duration before "now" (`-24h`, `-30m`,
 * `-90s`, `-7d`, or `-<ms>`). Records are kept when they are inside both bounds and, with a
 * workflow filter, belong to that workflow.
 *
 * @example
 * ```ts
 * const range = parseRange({ from: '-24h', to: null, workflow: null }, Date.now());
 * if (inRange(range, record)) …
 * ```
 *
 * @module
 */
import type { LogRecord } from '../../streams/log.ts';
import { decodeRecord, routingOf } from '../engine/envelope.ts';

/** One bound. */
export type Bound = { offset: number } | { timeMs: number } | null;

/** A resolved range. */
export interface ReplayRange {
  from: Bound;
  to: Bound;
  /** Workflow CID filter, or null. */
  workflow: string | null;
}

/** A bound or filter that cannot be read: names the flag. Bad input (exit 2 from the CLI). */
export class RangeError extends Error {
  override name = 'ReplayRangeError';
  readonly retryable = false;
  readonly usage = true;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Reads `OFFSET`, an ISO time, or `-DURATION` (relative to `nowMs`).
 * @throws {RangeError} naming `field`
 */
export function parseBound(text: string | null | undefined, field: string, nowMs: number): Bound {
  if (text === null || text === undefined || text === '') return null;
  if (/^\d+$/.test(text)) return { offset: Number(text) };
  const rel = /^-(\d+)(ms|s|m|h|d)?$/.exec(text);
  if (rel !== null) return { timeMs: nowMs - Number(rel[1]) * UNITS[rel[2] ?? 'ms']! };
  const t = Date.parse(text);
  if (Number.isFinite(t) && /^\d{4}-\d\d-\d\d/.test(text)) return { timeMs: t };
  throw new RangeError(
    `${field}: expected an offset, an ISO time or -DURATION like -24h (got ${JSON.stringify(text)})`,
  );
}

/** Resolves the bounds of a job. */
export function parseRange(
  o: { from?: string | null; to?: string | null; workflow?: string | null },
  nowMs: number,
): ReplayRange {
  return {
    from: parseBound(o.from, '--from', nowMs),
    to: parseBound(o.to, '--to', nowMs),
    workflow: o.workflow ?? null,
  };
}

/** True for the whole log (no bound, no filter). */
export const isWholeLog = (r: ReplayRange): boolean =>
  r.from === null && r.to === null && r.workflow === null;

/** True when a record is inside the range. */
export function inRange(r: ReplayRange, record: LogRecord): boolean {
  if (r.from !== null) {
    if ('offset' in r.from ? record.offset < r.from.offset : record.timestamp < r.from.timeMs)
      return false;
  }
  if (r.to !== null) {
    if ('offset' in r.to ? record.offset >= r.to.offset : record.timestamp >= r.to.timeMs)
      return false;
  }
  if (r.workflow === null) return true;
  const routing = routingOf(record);
  if (routing !== undefined) return routing.workflow === r.workflow;
  const d = decodeRecord(record);
  if (d instanceof Error) return false;
  const e = d.event as { workflow?: { toString(): string } | null };
  return e.workflow?.toString() === r.workflow;
}
