/**
 * Where bad records were read, and which of them an earlier run already dead-lettered.
 *
 * @module
 */
import type { Log } from '../../streams/log.ts';
import { deadLetterInfo } from '../../streams/dead-letter.ts';
import { readToEnd } from './reads.ts';

/** `stream/partition/offset`: where a record was read. */
export function positionKey(record: { stream: string; partition: number; offset: number }): string {
  return `${record.stream}/${record.partition}/${record.offset}`;
}

/**
 * Positions of the records already dead-lettered, read from the dead-letter stream's
 * provenance headers. Recovery reads every stream from offset 0 on each start: this is how it
 * knows which bad records were dead-lettered by an earlier run, so each goes there once.
 */
export async function deadLetteredPositions(
  log: Log,
  deadLetterStream: string,
  signal?: AbortSignal,
): Promise<Set<string>> {
  const seen = new Set<string>();
  await readToEnd(
    log,
    deadLetterStream,
    (record) => {
      const info = deadLetterInfo(record);
      if (info !== undefined) seen.add(positionKey(info));
    },
    signal,
  );
  return seen;
}
