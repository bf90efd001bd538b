/**
 * Pure decisions about ticks: the deterministic jitter of a tick, and which missed ticks a
 * catch-up policy fires.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { CatchUpPolicy } from '../../schemas/job-events.ts';

/** Ticks fired at most by `--catch-up all` after downtime (the most recent ones). @default 100 */
export const DEFAULT_MAX_CATCH_UP = 100;

/**
 * How late a tick fires, in [0, jitterMs]: a hash of the schedule name and the tick, so every
 * node computes the same delay and two nodes still fire the same tick at the same moment.
 */
export function jitterOf(name: string, tickMs: number, jitterMs: number): number {
  if (jitterMs <= 0) return 0;
  const h = createHash('sha256').update(`${name}\0${tickMs}`).digest();
  return h.readUInt32BE(0) % (jitterMs + 1);
}

/**
 * The missed ticks (oldest first) a policy fires: `skip` none, `latest` the most recent one,
 * `all` every one, bounded to the `max` most recent.
 */
export function catchUp(
  missed: readonly number[],
  policy: CatchUpPolicy,
  max = DEFAULT_MAX_CATCH_UP,
): number[] {
  if (missed.length === 0 || policy === 'skip') return [];
  if (policy === 'latest') return [missed[missed.length - 1]!];
  return missed.slice(-max);
}
