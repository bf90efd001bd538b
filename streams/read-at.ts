/**
 * Reading records at known positions: a re-run's submission body, the records of a block.
 *
 * @module
 */
import type { Log, LogRecord } from './log.ts';

/**
 * The records of `stream` at `offsets` (ascending) of one partition, by offset: one read from
 * the first offset, ended after the last. A position with no record (trimmed, or past the end)
 * is absent from the result.
 */
export async function readAt(
  log: Log,
  stream: string,
  partition: number,
  offsets: readonly number[],
  options: { signal?: AbortSignal } = {},
): Promise<Map<number, LogRecord>> {
  const found = new Map<number, LogRecord>();
  if (offsets.length === 0) return found;
  const want = new Set(offsets);
  const last = offsets[offsets.length - 1]!;
  for await (const record of log.read(stream, {
    partition,
    from: offsets[0]!,
    signal: options.signal,
  })) {
    if (want.has(record.offset)) found.set(record.offset, record);
    if (record.offset >= last) break; // breaking out releases the read
  }
  return found;
}
