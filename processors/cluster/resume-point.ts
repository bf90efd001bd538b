/**
 * Where a node's matchmaker starts reading `<namespace>.offers` when it starts again: the offset
 * of the oldest offer this node has not seen settled (decided, and its task has a receipt), so
 * that start-up reads the open offers and what followed them, not every offer ever made.
 *
 * Everything before the resume point is settled for good (receipts are durable and the memo is
 * rebuilt from them), so skipping it loses nothing: an offer still open, or awarded without a
 * receipt, lies at or after it, with every bid and decision of its round.
 *
 * The point carries an **anchor**: the last record read when it was saved (offset, key,
 * timestamp). The matchmaker checks that the stream holds that record before it trusts the
 * point; a data directory pointed at another broker, or a stream re-created or trimmed, fails the
 * check and the stream is read from its start.
 *
 * @module
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Log, LogRecord } from '../../streams/log.ts';
import { ClusterError } from './errors.ts';

/** A record of the offers stream, as the anchor of a {@link ResumePoint}. */
export interface ResumeAnchor {
  offset: number;
  key: string;
  /** Append time stamped by the backend (ms since the epoch). */
  timestamp: number;
}

/** Where to start reading the offers stream, and the record that proves it is the same stream. */
export interface ResumePoint {
  /** Offset of the first record to read (the oldest unsettled offer, or one past the last read). */
  position: number;
  /** The last record read when the point was saved; `position` ≤ `anchor.offset + 1`. */
  anchor: ResumeAnchor;
}

/** Keeps a node's {@link ResumePoint} between runs. */
export interface ResumeStore {
  /** The saved point, or `undefined` when none was saved; throws on a damaged store. */
  load(): Promise<ResumePoint | undefined>;
  /** Replaces the saved point (atomically: a crash leaves the old or the new one). */
  save(point: ResumePoint): Promise<void>;
}

const isOffset = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** A {@link ResumeStore} in one JSON file (written to a temporary file, then renamed). */
export function createFileResumeStore(path: string): ResumeStore {
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw new ClusterError(`${path}: cannot read the offers resume point`, { cause: error });
      }
      let point: unknown;
      try {
        point = JSON.parse(text);
      } catch (error) {
        throw new ClusterError(`${path}: not JSON`, { cause: error });
      }
      const p = point as Partial<ResumePoint> | null;
      const a = p?.anchor;
      if (!isOffset(p?.position)) throw new ClusterError(`${path}: position: expected an offset`);
      if (!isOffset(a?.offset) || typeof a.key !== 'string' || !Number.isFinite(a.timestamp))
        throw new ClusterError(`${path}: anchor: expected {offset, key, timestamp}`);
      if (p.position > a.offset + 1)
        throw new ClusterError(`${path}: position: past the anchor (offset ${a.offset}) + 1`);
      return {
        position: p.position,
        anchor: { offset: a.offset, key: a.key, timestamp: a.timestamp },
      };
    },
    async save(point) {
      await mkdir(dirname(path), { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(point));
      await rename(tmp, path);
    },
  };
}

/** What {@link readBack} reads and where its records go. */
export interface ReadBackInit {
  log: Log;
  stream: string;
  /** Without one, the stream is read from 0. */
  store: ResumeStore | undefined;
  signal: AbortSignal;
  /** A record at or after the resume point. */
  fold(record: LogRecord): void;
  /** A record before it, read only to find the anchor. */
  skip(record: LogRecord): void;
  /** The anchor is not on the stream: forget what was folded (it is read again from 0). */
  reset(): void;
  /** A damaged store, a stale point, a read that failed (and is tried again). */
  onError(error: Error): void;
}

/**
 * Reads `stream` from the saved resume point to its end, without following; resolves to the
 * offset the read started at. The records between the point's position and its anchor are read
 * to check the anchor; when the stream does not hold it, everything is read again from 0.
 */
export async function readBack(init: ReadBackInit): Promise<number> {
  const { log, stream, signal } = init;
  let point: ResumePoint | undefined;
  try {
    point = await init.store?.load();
  } catch (error) {
    init.onError(error as Error); // a damaged store: read everything
  }
  let anchor = point?.anchor;
  let foldFrom = point?.position ?? 0;
  let from = point === undefined ? 0 : Math.min(point.position, point.anchor.offset);
  let next = from;
  for (;;) {
    try {
      for await (const r of log.read(stream, { from: next, signal })) {
        if (anchor !== undefined && r.offset >= anchor.offset) {
          const same = r.offset === anchor.offset && r.key === anchor.key;
          if (!same || r.timestamp !== anchor.timestamp) break;
          anchor = undefined;
        }
        if (r.offset >= foldFrom) init.fold(r);
        else init.skip(r);
        next = r.offset + 1;
      }
      if (anchor === undefined || signal.aborted) return from;
      init.onError(
        new ClusterError(
          `${stream}: the resume point's record (offset ${anchor.offset}, key ${anchor.key}) ` +
            'is not on the stream: reading it from its start',
        ),
      );
      anchor = undefined;
      foldFrom = from = next = 0;
      init.reset();
    } catch (error) {
      if (signal.aborted) return from;
      init.onError(error as Error);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
