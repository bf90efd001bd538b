// The batch frames of a partition's last write, kept in memory for this log's own readers.
//
// A reader that follows a partition this process appends to is woken once each flush is
// acknowledged, then reads back what was just written: a read call, a fresh buffer, a checksum
// and the record's key and headers decoded again, for bytes the log still holds. A reader at
// the tail takes the frames from here instead, with each record's key and a copy of its headers
// as they were appended. Only the last write of each partition is kept: a reader further
// behind reads the file, as any reader did before. What a reader gets is the same either way.
import type { AppendRecord } from '../log.ts';

/** What a reader would otherwise decode from a record's bytes. */
export interface TailEntry {
  /** The key as appended, or undefined when it is not well-formed text (read back instead). */
  key: string | undefined;
  /**
   * The headers as appended (all string values), or undefined when the record had others and
   * its headers are read back from their JSON.
   */
  headers: Readonly<Record<string, string>> | undefined;
}

/** A frame of the last write, with its records' entries. */
export interface TailFrame {
  frame: Buffer;
  entries: readonly TailEntry[];
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** The entry of a record about to be appended. */
export function tailEntry(record: AppendRecord): TailEntry {
  // A lone surrogate is written as U+FFFD: such a key reads back as another string.
  const key = record.key.isWellFormed() ? record.key : undefined;
  const h = record.headers;
  if (h === undefined) return { key, headers: NO_HEADERS };
  if (Object.getPrototypeOf(h) !== Object.prototype) return { key, headers: undefined };
  // Only what JSON carries through unchanged: well-formed string values.
  for (const k in h) {
    const v = h[k];
    if (typeof v !== 'string' || k === '__proto__' || !k.isWellFormed() || !v.isWellFormed())
      return { key, headers: undefined };
  }
  return { key, headers: { ...h } };
}

/**
 * Largest write kept: a bigger one (a wide workflow's released tasks, a burst of large values)
 * is read back from the file rather than held until the partition's next write.
 */
export const TAIL_MAX_BYTES = 4 << 20;

/** The frames of one partition's last write. */
export class Tail {
  #segment: object | undefined;
  #from = 0;
  #frames: readonly Buffer[] = [];
  #entries: ReadonlyArray<readonly TailEntry[]> = [];

  /**
   * The frames just written at `from` in `segment` (one entry list per frame), `bytes` in all;
   * past {@link TAIL_MAX_BYTES}, none.
   */
  set(
    segment: object,
    from: number,
    frames: readonly Buffer[],
    entries: ReadonlyArray<readonly TailEntry[]>,
    bytes: number,
  ): void {
    if (bytes > TAIL_MAX_BYTES) {
      frames = [];
      entries = [];
    }
    this.#segment = segment;
    this.#from = from;
    this.#frames = frames;
    this.#entries = entries;
  }

  /**
   * The frame that starts at `position` of `segment` and ends by `end` (what readers may see),
   * if it is one of the last write's.
   */
  at(segment: object, position: number, end: number): TailFrame | undefined {
    if (segment !== this.#segment || position < this.#from) return undefined;
    let start = this.#from;
    for (let i = 0; i < this.#frames.length; i++) {
      const frame = this.#frames[i]!;
      if (start === position) {
        return start + frame.length <= end ? { frame, entries: this.#entries[i]! } : undefined;
      }
      start += frame.length;
      if (start > position) return undefined;
    }
    return undefined;
  }
}
