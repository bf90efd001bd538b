/**
 * Next-tick computation over `croner` (the only module importing it): 5-field patterns, or 6
 * with seconds first; IANA time zones; daylight-saving changes as croner resolves them (a
 * local time that does not exist, e.g. 02:30 on a spring-forward day, fires at the first
 * instant after the gap; a repeated hour fires once).
 *
 * @module
 */
import { Cron } from 'croner';
import { ScheduleError } from './errors.ts';

/** Tick times of one pattern in one zone. Times are ms since the epoch. */
export interface TickSeries {
  readonly pattern: string;
  /** IANA zone, or `UTC`. */
  readonly tz: string;
  /** The first tick strictly after `afterMs`, or null when the pattern never fires again. */
  next(afterMs: number): number | null;
  /** Up to `limit` ticks in (`afterMs`, `untilMs`], in order. */
  between(afterMs: number, untilMs: number, limit: number): number[];
  /** Up to `n` ticks at or before `atMs`, most recent first. */
  previous(atMs: number, n: number): number[];
}

/**
 * Parses a pattern for a zone.
 * @throws {ScheduleError} on a bad pattern (`cron`) or an unknown zone (`tz`)
 * @example
 * ```ts
 * const series = tickSeries('30 2 * * *', 'America/New_York');
 * series.next(Date.parse('2026-03-07T12:00:00Z')); // 2026-03-08T07:00Z: 03:00 EDT, after the gap
 * ```
 */
export function tickSeries(pattern: string, tz: string | null = null): TickSeries {
  const zone = tz ?? 'UTC';
  let cron: Cron;
  try {
    cron = new Cron(pattern, { timezone: zone, paused: true });
  } catch (err) {
    throw new ScheduleError(
      'cron',
      `bad pattern ${JSON.stringify(pattern)}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  try {
    cron.nextRun(new Date(0));
  } catch (err) {
    throw new ScheduleError('tz', `unknown time zone ${JSON.stringify(zone)}`, { cause: err });
  }
  const next = (afterMs: number): number | null =>
    cron.nextRun(new Date(afterMs))?.getTime() ?? null;
  return {
    pattern,
    tz: zone,
    next,
    between(afterMs, untilMs, limit) {
      const out: number[] = [];
      for (let t = next(afterMs); t !== null && t <= untilMs && out.length < limit; t = next(t))
        out.push(t);
      return out;
    },
    previous(atMs, n) {
      // previousRuns is exclusive of its reference: step one ms past it.
      return cron.previousRuns(n, new Date(atMs + 1)).map((d) => d.getTime());
    },
  };
}
