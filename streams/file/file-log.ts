// The embedded segmented file log: the default backend, no server.
//
// Layout under `dir`:
//   LOCK                                   writer lock (pid of the writing process)
//   <stream>/stream.json                   { "partitions": n }
//   <stream>/<partition>/<base>.log        segments, named by their first offset (20 digits)
//   <stream>/<partition>/<base>.idx        sparse offset index of a closed segment
//   <stream>/consumers/<consumer>.json     committed positions
//
// Writes and reads are synchronous on purpose: a write or read of a page-cache-sized batch
// takes microseconds, while the thread-pool round trip of the async API adds ~0.1 ms to each.
// Appends made in the same tick are grouped (group commit) and flushed in a microtask: one
// writev per partition, then one fdatasync per file of the group, on the thread pool and in
// parallel (a sync takes 0.05–0.3 ms on an idle disk and longer under load; the event loop
// keeps running meanwhile). One group is synced at a time: appends made while it is on the disk
// form the next group. While a group is on the disk the event loop is kept turning for a bounded
// time (`pollWhileSyncingMs`) so that the sync's completion is seen at once.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type {
  AbortOptions,
  AppendRecord,
  AppendResult,
  CommitStats,
  ConsumeOptions,
  Log,
  LogRecord,
  Positions,
  ReadFrom,
  ReadOptions,
  StreamSpec,
} from '../log.ts';
import { assertStreamName, partitionForKey } from '../log.ts';
import {
  CorruptRecordError,
  InvalidArgumentError,
  LogClosedError,
  LogLockedError,
  ReadOnlyLogError,
  StorageUnavailableError,
  StreamConfigError,
  StreamNotFoundError,
  StreamsError,
} from '../errors.ts';
import { mergeAsync } from '../merge.ts';
import { Tail, tailEntry, type TailEntry } from './tail.ts';
import {
  batchBytes,
  beginBatch,
  checkFrame,
  encodeRecord,
  endBatch,
  firstRecord,
  frameCount,
  frameOffset,
  frameTimestamp,
  FRAME_HEADER_BYTES,
  sizeRecord,
  type FrameCheck,
  type SizedRecord,
} from './format.ts';

/**
 * When appended data is forced to stable storage.
 * - `'batch'`: every group of appends is `fdatasync`ed before any of its appends resolves. An
 *   acknowledged append survives a process crash and a power loss. The default.
 * - `{ intervalMs }`: appends resolve once written to the OS; dirty files are synced every
 *   `intervalMs`. Survives a process crash; a power loss may lose the last interval.
 * - `'none'`: never synced by the log (the OS writes back in its own time). Survives a process
 *   crash only.
 */
export type FsyncPolicy = 'batch' | 'none' | { intervalMs: number };

/** Retention of whole segments, checked when a segment is closed and when a partition opens. */
export interface RetentionPolicy {
  /** Delete the oldest closed segments while a partition holds more than this many bytes. */
  maxBytes?: number;
  /** Delete closed segments whose last write is older than this. */
  maxAgeMs?: number;
}

/** Construction options of {@link createFileLog}. */
export interface FileLogInit {
  /** Directory of the log (created when missing, unless `readOnly`). */
  dir: string;
  /**
   * Durability policy, see {@link FsyncPolicy}.
   * @default 'batch'
   */
  fsync?: FsyncPolicy;
  /**
   * Open without the writer lock, for reading while another process writes. Appends and commits
   * reject with `ReadOnlyLogError`; follow reads poll every `pollIntervalMs`. Records become
   * visible to such readers once written, which may be just before they are synced.
   * @default false
   */
  readOnly?: boolean;
  /**
   * A segment is closed and a new one started once it holds this many bytes.
   * @default 67108864 (64 MiB)
   */
  segmentBytes?: number;
  /**
   * One index entry per this many bytes of segment.
   * @default 4096
   */
  indexIntervalBytes?: number;
  /** Retention of closed segments; nothing is deleted when absent. */
  retention?: RetentionPolicy;
  /**
   * Poll period of follow reads in read-only mode (the writer's own readers are woken directly).
   * @default 25
   */
  pollIntervalMs?: number;
  /**
   * Bytes read per read call.
   * @default 1048576
   */
  readChunkBytes?: number;
  /** Clock for record timestamps. @default Date.now */
  now?: () => number;
  /**
   * With `fsync: 'batch'`: while a group commit's fdatasync runs on the thread pool, keep the
   * event loop turning (a chain of `setImmediate`) for up to this many milliseconds instead of
   * letting it sleep. A sleeping loop is woken by the thread pool's completion late — 0.1–0.2
   * ms on a virtual machine — and a memo hit or a chain step, one group commit each, pays that
   * in full; a turning loop sees the completion on its next turn. Bounded: the loop turns only
   * while a group it started is on the disk (an idle log never does), stops at this bound, and
   * does not turn at all while recent syncs take longer than the bound (a slow disk, where the
   * wake-up is noise beside the sync). The cost is CPU: at most this long per group commit.
   * 0 turns it off.
   * @default 1
   */
  pollWhileSyncingMs?: number;
}

export const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
export const DEFAULT_INDEX_INTERVAL_BYTES = 4096;
export const DEFAULT_POLL_INTERVAL_MS = 25;
export const DEFAULT_READ_CHUNK_BYTES = 1024 * 1024;
export const DEFAULT_POLL_WHILE_SYNCING_MS = 1;

const BACKEND = 'file';
const SEGMENT_SUFFIX = '.log';
const INDEX_SUFFIX = '.idx';
/**
 * A partition's clean-close marker: the size and record count its active segment had when a
 * writer closed it after syncing it (the segment's index is written beside it). A writer that
 * opens the partition and finds the segment at that size skips scanning it, and removes the
 * marker before anything is appended.
 */
const CLEAN_CLOSE = 'clean-close.json';
/** Active segments smaller than this are scanned at open anyway (a few ms at most). */
const CLEAN_CLOSE_MIN_BYTES = 1 << 20;

interface Segment {
  base: number;
  file: string; // path
  rel: string; // <stream>/<partition>/<name>, for errors
  /** Readable bytes: acknowledged bytes for the writer, last seen file size for readers. */
  size: number;
  /** Flat [offset, position, …] pairs, increasing. */
  index: number[];
  deleted: boolean;
}

interface Waiter {
  resolve: (results: AppendResult[]) => void;
  reject: (error: unknown) => void;
  results: AppendResult[];
}

function segmentName(base: number): string {
  return String(base).padStart(20, '0');
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function storageError(error: unknown, message: string, stream?: string): StreamsError {
  if (error instanceof StreamsError) return error;
  const code = errno(error);
  const retryable = code === 'EAGAIN' || code === 'ENOSPC' || code === 'EMFILE' || code === 'EBUSY';
  return retryable
    ? new StorageUnavailableError(`${message}: ${code}`, { cause: error, stream, backend: BACKEND })
    : new StreamsError(`${message}: ${String(error)}`, false, {
        cause: error,
        stream,
        backend: BACKEND,
      });
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function writeAtomic(file: string, data: string | Uint8Array, durable: boolean): void {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    if (durable) fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  if (durable) fsyncDir(path.dirname(file));
}

/**
 * {@link writeAtomic} on the thread pool: the event loop keeps running while the disk syncs
 * (a durable write here is two syncs, ~1–2 ms).
 */
async function writeAtomicAsync(file: string, data: string, durable: boolean): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const handle = await fs.promises.open(tmp, 'w');
  try {
    await handle.writeFile(data);
    if (durable) await handle.datasync();
  } finally {
    await handle.close();
  }
  await fs.promises.rename(tmp, file);
  if (durable) {
    const dir = await fs.promises.open(path.dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

function listSegments(dir: string, rel: string): Segment[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    if (errno(error) === 'ENOENT') return [];
    throw error;
  }
  return names
    .filter((name) => name.endsWith(SEGMENT_SUFFIX) && /^\d{20}\.log$/.test(name))
    .map((name) => {
      const base = Number(name.slice(0, 20));
      return {
        base,
        file: path.join(dir, name),
        rel: `${rel}/${name}`,
        size: 0,
        index: [],
        deleted: false,
      };
    })
    .sort((a, b) => a.base - b.base);
}

/** Result of scanning a segment from its start. */
interface Scan {
  validEnd: number;
  count: number;
  index: number[];
  /** Positions of damaged records that intact records follow (corruption, not a torn tail). */
  damaged: number[];
  /** Why the scan stopped before the file's end (a torn tail). */
  torn?: string;
}

function readAt(fd: number, position: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  const got = fs.readSync(fd, buf, 0, length, position);
  return buf.subarray(0, got);
}

/**
 * Reads a segment sequentially, checking every frame, to find its valid end and build an index.
 *
 * A bad batch is a torn tail unless its length field is sane and an intact batch with a later
 * base offset follows it: then the bytes in between were damaged after being written, the
 * batch is reported (readers throw `CorruptRecordError` there) and the scan goes on, so damage
 * never makes the log drop the acknowledged records after it.
 */
function scanSegment(seg: Segment, chunkBytes: number, indexInterval: number): Scan {
  const fd = fs.openSync(seg.file, 'r');
  try {
    const fileSize = fs.fstatSync(fd).size;
    const index: number[] = [];
    const damaged: number[] = [];
    let position = 0;
    let expected = seg.base;
    let lastIndexed = -Infinity;
    let need = 0;
    const result = (torn?: string): Scan => ({
      validEnd: position,
      count: expected - seg.base,
      index,
      damaged,
      ...(torn === undefined ? {} : { torn }),
    });
    while (position < fileSize) {
      const buf = readAt(fd, position, Math.min(Math.max(chunkBytes, need), fileSize - position));
      need = 0;
      const got = buf.length;
      let i = 0;
      while (i < got) {
        const check = checkFrame(buf, i, got);
        if (check.kind === 'short') {
          if (i > 0) break;
          const size =
            got >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + buf.readUInt32LE(0) : Infinity;
          if (position + size <= fileSize && size > got) {
            need = size;
            break;
          }
          return result('torn record');
        }
        if (check.kind === 'bad' || frameOffset(buf, i) !== expected) {
          const at = position + i;
          const bodyLength = buf.readUInt32LE(i);
          const skipTo = at + FRAME_HEADER_BYTES + bodyLength;
          const nextBase =
            bodyLength >= 20 && skipTo < fileSize
              ? intactAt(fd, skipTo, expected, fileSize)
              : undefined;
          if (nextBase !== undefined) {
            damaged.push(at);
            if (at - lastIndexed >= indexInterval) {
              index.push(expected, at);
              lastIndexed = at;
            }
            expected = nextBase;
            position = skipTo;
            i = -1;
            break;
          }
          position = at;
          return result(check.kind === 'bad' ? check.reason : 'unexpected offset');
        }
        if (position + i - lastIndexed >= indexInterval) {
          index.push(expected, position + i);
          lastIndexed = position + i;
        }
        expected += frameCount(buf, i);
        i = check.end;
      }
      if (i >= 0) position += i;
    }
    return result();
  } finally {
    fs.closeSync(fd);
  }
}

/** Base offset of an intact batch starting at `position` after `after`, if there is one. */
function intactAt(
  fd: number,
  position: number,
  after: number,
  fileSize: number,
): number | undefined {
  const head = readAt(fd, position, FRAME_HEADER_BYTES);
  if (head.length < FRAME_HEADER_BYTES) return undefined;
  const size = FRAME_HEADER_BYTES + head.readUInt32LE(0);
  if (position + size > fileSize) return undefined;
  const frame = readAt(fd, position, size);
  const check = checkFrame(frame, 0, frame.length);
  if (check.kind !== 'ok') return undefined;
  const base = frameOffset(frame, 0);
  return base > after ? base : undefined;
}

function loadIndex(seg: Segment, size: number): number[] | undefined {
  try {
    const bytes = fs.readFileSync(seg.file.slice(0, -SEGMENT_SUFFIX.length) + INDEX_SUFFIX);
    if (bytes.length % 16 !== 0) return undefined;
    const index: number[] = [];
    for (let i = 0; i < bytes.length; i += 16) {
      const offset = bytes.readDoubleLE(i);
      const position = bytes.readDoubleLE(i + 8);
      const prev = index.length;
      if (
        position >= size ||
        (prev > 0 && (offset <= index[prev - 2]! || position <= index[prev - 1]!))
      ) {
        return undefined;
      }
      index.push(offset, position);
    }
    return index;
  } catch {
    return undefined;
  }
}

function writeIndex(seg: Segment, durable: boolean): void {
  const bytes = Buffer.allocUnsafe(seg.index.length * 8);
  for (let i = 0; i < seg.index.length; i++) bytes.writeDoubleLE(seg.index[i]!, i * 8);
  writeAtomic(seg.file.slice(0, -SEGMENT_SUFFIX.length) + INDEX_SUFFIX, bytes, durable);
}

/**
 * What a clean close said of the active segment, if it still holds: the segment has the same
 * base and the same size (bytes past a clean close were appended, maybe torn: scan), and its
 * index loads. Bytes damaged in place since are found by the readers' checksums.
 */
function readCleanClose(
  dir: string,
  active: Segment,
  fileSize: number,
): { count: number; index: number[] } | undefined {
  let marker: { base?: unknown; size?: unknown; count?: unknown };
  try {
    marker = JSON.parse(fs.readFileSync(path.join(dir, CLEAN_CLOSE), 'utf8')) as typeof marker;
  } catch {
    return undefined;
  }
  const { base, size, count } = marker;
  if (base !== active.base || size !== fileSize || typeof count !== 'number') return undefined;
  if (!Number.isSafeInteger(count) || count < 0 || fileSize > 0 !== count > 0) return undefined;
  const index = loadIndex(active, fileSize);
  return index === undefined ? undefined : { count, index };
}

/** Where to start scanning `seg` to find `offset`: the nearest index entry at or before it. */
function seek(seg: Segment, offset: number): { position: number; offset: number } {
  const index = seg.index;
  let lo = 0;
  let hi = index.length / 2 - 1;
  let found = { position: 0, offset: seg.base };
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (index[mid * 2]! <= offset) {
      found = { position: index[mid * 2 + 1]!, offset: index[mid * 2]! };
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

class Partition {
  readonly stream: string;
  readonly id: number;
  readonly dir: string;
  readonly rel: string;
  segments: Segment[] = [];
  /** Next offset to assign. */
  nextOffset = 0;
  /** Next offset readers may see (everything below is acknowledged). */
  ackedEnd = 0;
  /** Next offset after the last written record (acknowledged once the flush completes). */
  nextOffsetWritten = 0;
  // Writer state.
  fd = -1;
  written = 0; // bytes written to the active segment
  lastIndexed = -Infinity;
  pending: Buffer[] = [];
  /** Per pending frame, its records' keys and headers (see tail.ts). */
  pendingEntries: TailEntry[][] = [];
  /** The frames of the last write, for this log's readers at the tail. */
  readonly tail = new Tail();
  pendingBytes = 0;
  pendingFirst = 0;
  unsynced = false;
  readonly wakers = new Set<() => void>();

  constructor(stream: string, id: number, root: string) {
    this.stream = stream;
    this.id = id;
    this.rel = `${stream}/${id}`;
    this.dir = path.join(root, stream, String(id));
  }

  get active(): Segment {
    return this.segments[this.segments.length - 1]!;
  }

  wake(): void {
    if (this.wakers.size === 0) return;
    const wakers = [...this.wakers];
    this.wakers.clear();
    for (const wake of wakers) wake();
  }

  /** Segment holding `offset`, or the first one after it. */
  segmentFor(offset: number): Segment | undefined {
    let found: Segment | undefined;
    for (const seg of this.segments) {
      if (seg.base <= offset) found = seg;
      else break;
    }
    return found ?? this.segments[0];
  }

  nextSegment(seg: Segment): Segment | undefined {
    return this.segments.find((s) => s.base > seg.base);
  }
}

interface StreamState {
  name: string;
  partitions: Partition[];
}

/** Internal view of the shared writer/reader state; passed to the read loop. */
interface Options {
  dir: string;
  fsync: FsyncPolicy;
  readOnly: boolean;
  segmentBytes: number;
  indexIntervalBytes: number;
  retention: RetentionPolicy | undefined;
  pollIntervalMs: number;
  readChunkBytes: number;
  now: () => number;
  pollWhileSyncingMs: number;
}

function validateInit(init: FileLogInit): Options {
  if (typeof init.dir !== 'string' || init.dir === '') throw new TypeError('dir is required');
  const fsync = init.fsync ?? 'batch';
  if (
    fsync !== 'batch' &&
    fsync !== 'none' &&
    !(typeof fsync === 'object' && Number.isFinite(fsync.intervalMs) && fsync.intervalMs > 0)
  ) {
    throw new TypeError(`invalid fsync policy ${JSON.stringify(fsync)}`);
  }
  const positive = (value: number | undefined, fallback: number, name: string): number => {
    const v = value ?? fallback;
    if (!Number.isSafeInteger(v) || v <= 0)
      throw new TypeError(`${name} must be a positive integer`);
    return v;
  };
  return {
    dir: path.resolve(init.dir),
    fsync,
    readOnly: init.readOnly ?? false,
    segmentBytes: positive(init.segmentBytes, DEFAULT_SEGMENT_BYTES, 'segmentBytes'),
    indexIntervalBytes: positive(
      init.indexIntervalBytes,
      DEFAULT_INDEX_INTERVAL_BYTES,
      'indexIntervalBytes',
    ),
    retention: init.retention,
    pollIntervalMs: positive(init.pollIntervalMs, DEFAULT_POLL_INTERVAL_MS, 'pollIntervalMs'),
    readChunkBytes: positive(init.readChunkBytes, DEFAULT_READ_CHUNK_BYTES, 'readChunkBytes'),
    now: init.now ?? Date.now,
    pollWhileSyncingMs: pollWhileSyncing(init.pollWhileSyncingMs),
  };
}

function pollWhileSyncing(value: number | undefined): number {
  const v = value ?? DEFAULT_POLL_WHILE_SYNCING_MS;
  if (!Number.isFinite(v) || v < 0 || v > 1000)
    throw new TypeError(`pollWhileSyncingMs must be a number of milliseconds in [0, 1000]`);
  return v;
}

function acquireLock(dir: string): number {
  const file = path.join(dir, 'LOCK');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, `${process.pid}\n`);
      fs.fdatasyncSync(fd);
      return fd;
    } catch (error) {
      if (errno(error) !== 'EEXIST') throw error;
    }
    let owner: number | undefined;
    try {
      owner = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
    } catch {
      owner = undefined;
    }
    if (owner !== undefined && Number.isSafeInteger(owner) && owner > 0 && processAlive(owner)) {
      throw new LogLockedError(dir, owner, { backend: BACKEND });
    }
    // The owner died without releasing the lock (a crash): take it over. A lock whose content
    // is not readable yet may be in the middle of being written: look again before removing it.
    if (owner === undefined || Number.isNaN(owner)) {
      if (attempt === 0) continue;
    }
    try {
      fs.unlinkSync(file);
    } catch (error) {
      if (errno(error) !== 'ENOENT') throw error;
    }
  }
  throw new LogLockedError(dir, undefined, { backend: BACKEND });
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errno(error) === 'EPERM';
  }
}

/**
 * Opens (or creates) an embedded file log in `init.dir`.
 *
 * A writer takes the directory's lock: a second writer, in this process or another, fails with
 * `LogLockedError`; read-only instances may read concurrently. On open, each partition's last
 * segment is checked record by record and a torn tail (from a crash) is truncated, so a reader
 * never sees a partial or corrupt record; under the `'batch'` policy every acknowledged record
 * is kept.
 */
export function createFileLog(init: FileLogInit): Log {
  const options = validateInit(init);
  return new FileLog(options);
}

class FileLog implements Log {
  readonly #o: Options;
  readonly #streams = new Map<string, StreamState>();
  readonly #closing = new AbortController();
  #lockFd = -1;
  #closed: Promise<void> | undefined;
  #failed: StreamsError | undefined;
  // Group commit.
  readonly #dirty = new Set<Partition>();
  #waiters: Waiter[] = [];
  #flushScheduled = false;
  #flushing: Promise<void> | undefined;
  /** Moving average of recent group syncs' durations, ms (for `pollWhileSyncingMs`). */
  #syncMs = 0;
  /** Counters for {@link Log.commitStats}. */
  #stats: CommitStats = { commits: 0, records: 0, syncSeconds: 0 };
  #syncTimer: NodeJS.Timeout | undefined;
  /**
   * By consumer file (this writer is their only writer): the positions last asked for, those
   * last written durably, and the write under way — commits to one file are written one after
   * the other, in call order.
   */
  readonly #asked = new Map<string, Positions>();
  readonly #written = new Map<string, Positions>();
  readonly #commitWrites = new Map<string, Promise<void>>();

  constructor(options: Options) {
    this.#o = options;
    if (!options.readOnly) {
      fs.mkdirSync(options.dir, { recursive: true });
      this.#lockFd = acquireLock(options.dir);
      try {
        // Recover every stream now: a torn tail is truncated when the log opens, not later.
        for (const entry of fs.readdirSync(options.dir, { withFileTypes: true })) {
          if (
            entry.isDirectory() &&
            fs.existsSync(path.join(options.dir, entry.name, 'stream.json'))
          ) {
            this.#stream(entry.name);
          }
        }
      } catch (error) {
        this.#releaseFiles();
        throw error;
      }
      if (typeof options.fsync === 'object') {
        this.#syncTimer = setInterval(() => this.#syncDirty(), options.fsync.intervalMs);
        this.#syncTimer.unref();
      }
    } else if (!fs.existsSync(options.dir)) {
      throw new StreamsError(`no log in ${options.dir}`, false, { backend: BACKEND });
    }
  }

  #check(stream?: string): void {
    if (this.#closed !== undefined) throw new LogClosedError({ stream, backend: BACKEND });
    if (this.#failed !== undefined) throw this.#failed;
  }

  // ---------------------------------------------------------------- streams and partitions

  #streamDir(stream: string): string {
    return path.join(this.#o.dir, stream);
  }

  #readMeta(stream: string): number | undefined {
    try {
      const meta = JSON.parse(
        fs.readFileSync(path.join(this.#streamDir(stream), 'stream.json'), 'utf8'),
      ) as {
        partitions?: unknown;
      };
      const n = meta.partitions;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
        throw new StreamConfigError(`stream.json of ${stream} is invalid`, {
          stream,
          backend: BACKEND,
        });
      }
      return n;
    } catch (error) {
      if (errno(error) === 'ENOENT') return undefined;
      throw storageError(error, `cannot read the metadata of ${stream}`, stream);
    }
  }

  #stream(stream: string): StreamState {
    const known = this.#streams.get(stream);
    if (known !== undefined) return known;
    assertStreamNameOrThrow(stream);
    const count = this.#readMeta(stream);
    if (count === undefined) throw new StreamNotFoundError(stream, { backend: BACKEND });
    const state: StreamState = { name: stream, partitions: [] };
    for (let p = 0; p < count; p++) {
      const part = new Partition(stream, p, this.#o.dir);
      if (this.#o.readOnly) this.#refresh(part);
      else this.#recover(part);
      state.partitions.push(part);
    }
    this.#streams.set(stream, state);
    return state;
  }

  #partition(stream: string, partition: number): Partition {
    const state = this.#stream(stream);
    const part = state.partitions[partition];
    if (!Number.isSafeInteger(partition) || part === undefined) {
      throw new InvalidArgumentError(
        `partition ${partition} does not exist (stream ${stream} has ${state.partitions.length})`,
        { stream, partition, backend: BACKEND },
      );
    }
    return part;
  }

  /** Writer open: validate the last segment, truncate a torn tail, open it for appending. */
  #recover(part: Partition): void {
    const o = this.#o;
    fs.mkdirSync(part.dir, { recursive: true });
    part.segments = listSegments(part.dir, part.rel);
    if (part.segments.length === 0) {
      const file = path.join(part.dir, segmentName(0) + SEGMENT_SUFFIX);
      fs.closeSync(fs.openSync(file, 'a'));
      if (o.fsync !== 'none') fsyncDir(part.dir);
      part.segments = listSegments(part.dir, part.rel);
    }
    for (const seg of part.segments.slice(0, -1)) {
      seg.size = fs.statSync(seg.file).size;
      seg.index =
        loadIndex(seg, seg.size) ?? scanSegment(seg, o.readChunkBytes, o.indexIntervalBytes).index;
    }
    const active = part.active;
    const fileSize = fs.statSync(active.file).size;
    const clean = readCleanClose(part.dir, active, fileSize);
    // It holds only until this writer appends: gone before that (if the removal is lost in a
    // crash, the segment's size then differs, or nothing was appended).
    fs.rmSync(path.join(part.dir, CLEAN_CLOSE), { force: true });
    const scan: Scan =
      clean === undefined
        ? scanSegment(active, o.readChunkBytes, o.indexIntervalBytes)
        : { validEnd: fileSize, count: clean.count, index: clean.index, damaged: [] };
    if (scan.validEnd < fileSize) {
      // A torn tail (a crash during a write): nothing after it was acknowledged under 'batch'.
      fs.truncateSync(active.file, scan.validEnd);
    }
    active.size = scan.validEnd;
    active.index = scan.index;
    part.fd = fs.openSync(active.file, 'a');
    if (scan.validEnd < fileSize && o.fsync !== 'none') fs.fdatasyncSync(part.fd);
    part.written = scan.validEnd;
    part.lastIndexed = scan.index.length > 0 ? scan.index[scan.index.length - 1]! : -Infinity;
    part.nextOffset = active.base + scan.count;
    part.ackedEnd = part.nextOffset;
    part.nextOffsetWritten = part.nextOffset;
    this.#applyRetention(part);
  }

  /** Read-only: pick up new segments and sizes written by the writer process. */
  #refresh(part: Partition): void {
    const listed = listSegments(part.dir, part.rel);
    const known = new Map(part.segments.map((s) => [s.base, s]));
    part.segments = listed.map((seg) => {
      const old = known.get(seg.base);
      const current = old ?? seg;
      try {
        current.size = fs.statSync(current.file).size;
      } catch (error) {
        if (errno(error) !== 'ENOENT') throw error;
        current.deleted = true;
      }
      if (old === undefined) current.index = loadIndex(current, current.size) ?? [];
      return current;
    });
    for (const seg of known.values()) if (!part.segments.includes(seg)) seg.deleted = true;
  }

  #applyRetention(part: Partition): void {
    const retention = this.#o.retention;
    if (retention === undefined) return;
    const now = this.#o.now();
    let total = part.segments.reduce((sum, s) => sum + s.size, 0);
    while (part.segments.length > 1) {
      const oldest = part.segments[0]!;
      const tooBig = retention.maxBytes !== undefined && total > retention.maxBytes;
      let tooOld = false;
      if (!tooBig && retention.maxAgeMs !== undefined) {
        tooOld = fs.statSync(oldest.file).mtimeMs < now - retention.maxAgeMs;
      }
      if (!tooBig && !tooOld) break;
      part.segments.shift();
      oldest.deleted = true;
      total -= oldest.size;
      fs.rmSync(oldest.file, { force: true });
      fs.rmSync(oldest.file.slice(0, -SEGMENT_SUFFIX.length) + INDEX_SUFFIX, { force: true });
    }
  }

  ensureStreams(streams: readonly StreamSpec[], options: AbortOptions = {}): Promise<void> {
    try {
      options.signal?.throwIfAborted();
      this.#check();
      if (this.#o.readOnly) throw new ReadOnlyLogError({ backend: BACKEND });
      for (const spec of streams) {
        assertStreamNameOrThrow(spec.name);
        if (!Number.isSafeInteger(spec.partitions) || spec.partitions < 1) {
          throw new InvalidArgumentError(`partitions of ${spec.name} must be a positive integer`, {
            stream: spec.name,
            backend: BACKEND,
          });
        }
        const existing = this.#readMeta(spec.name);
        if (existing === undefined) {
          const dir = this.#streamDir(spec.name);
          fs.mkdirSync(dir, { recursive: true });
          writeAtomic(
            path.join(dir, 'stream.json'),
            JSON.stringify({ partitions: spec.partitions }),
            true,
          );
          fsyncDir(this.#o.dir);
        } else if (existing !== spec.partitions) {
          throw new StreamConfigError(
            `stream ${spec.name} has ${existing} partitions, not ${spec.partitions}`,
            { stream: spec.name, backend: BACKEND },
          );
        }
      }
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(storageError(error, 'cannot create streams'));
    }
  }

  partitions(stream: string, options: AbortOptions = {}): Promise<number> {
    try {
      options.signal?.throwIfAborted();
      this.#check(stream);
      return Promise.resolve(this.#stream(stream).partitions.length);
    } catch (error) {
      return Promise.reject(storageError(error, `cannot open ${stream}`, stream));
    }
  }

  // ---------------------------------------------------------------- append and group commit

  append(
    stream: string,
    records: readonly AppendRecord[],
    options: AbortOptions = {},
  ): Promise<AppendResult[]> {
    let state: StreamState;
    try {
      options.signal?.throwIfAborted();
      this.#check(stream);
      if (this.#o.readOnly) throw new ReadOnlyLogError({ stream, backend: BACKEND });
      state = this.#stream(stream);
    } catch (error) {
      return Promise.reject(storageError(error, `cannot append to ${stream}`, stream));
    }
    if (records.length === 0) return Promise.resolve([]);
    const count = state.partitions.length;
    const targets = new Array<number>(records.length);
    const sized = new Array<SizedRecord>(records.length);
    // Per partition touched: [record bytes, record count].
    const sizes = new Map<number, [number, number]>();
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      if (typeof record.key !== 'string' || !(record.value instanceof Uint8Array)) {
        return Promise.reject(
          new InvalidArgumentError(`record ${i}: key must be a string and value a Uint8Array`, {
            stream,
            backend: BACKEND,
          }),
        );
      }
      const p = count === 1 ? 0 : partitionForKey(record.key, count);
      targets[i] = p;
      const s = sizeRecord(record);
      sized[i] = s;
      const size = sizes.get(p);
      if (size === undefined) sizes.set(p, [s.total, 1]);
      else {
        size[0] += s.total;
        size[1]++;
      }
    }
    // One batch frame per partition touched by this call; offsets are assigned now, in call order.
    const timestamp = this.#o.now();
    const batches = new Map<
      number,
      { buf: Buffer; at: number; offset: number; entries: TailEntry[] }
    >();
    for (const [p, [bytes, n]] of sizes) {
      const part = state.partitions[p]!;
      const buf = Buffer.allocUnsafe(batchBytes(bytes));
      const offset = part.nextOffset;
      part.nextOffset += n;
      batches.set(p, {
        buf,
        at: beginBatch(buf, 0, offset, timestamp, n),
        offset,
        entries: [],
      });
    }
    const results = new Array<AppendResult>(records.length);
    for (let i = 0; i < records.length; i++) {
      const p = targets[i]!;
      const batch = batches.get(p)!;
      batch.at = encodeRecord(batch.buf, batch.at, sized[i]!);
      batch.entries.push(tailEntry(records[i]!));
      results[i] = { partition: p, offset: batch.offset++ };
    }
    for (const [p, { buf, entries }] of batches) {
      const part = state.partitions[p]!;
      endBatch(buf, 0, buf.length);
      if (part.pending.length === 0) part.pendingFirst = frameOffset(buf, 0);
      part.pending.push(buf);
      part.pendingEntries.push(entries);
      part.pendingBytes += buf.length;
      this.#dirty.add(part);
    }
    return new Promise<AppendResult[]>((resolve, reject) => {
      this.#waiters.push({ resolve, reject, results });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        queueMicrotask(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#flushScheduled = false;
    // One flush at a time: appends made meanwhile wait for the next one (group commit).
    if (this.#flushing !== undefined) return;
    const parts = [...this.#dirty];
    this.#dirty.clear();
    const waiters = this.#waiters;
    this.#waiters = [];
    const fail = (error: unknown): void => {
      // The files' state after a failed write or sync is unknown: refuse further appends until
      // the log is reopened, which re-validates the tail.
      const failure = storageError(error, 'append failed; reopen the log to recover');
      this.#failed ??= failure;
      for (const waiter of waiters) waiter.reject(failure);
    };
    const publish = (synced = 0): void => {
      const stats = this.#stats;
      stats.commits++;
      for (const waiter of waiters) stats.records += waiter.results.length;
      stats.syncSeconds += synced / 1000;
      for (const part of parts) {
        part.active.size = part.written;
        part.ackedEnd = part.nextOffsetWritten;
        part.wake();
      }
      for (const waiter of waiters) waiter.resolve(waiter.results);
    };
    try {
      if (this.#failed !== undefined) throw this.#failed;
      for (const part of parts) this.#writePending(part);
      if (this.#o.fsync !== 'batch') {
        for (const part of parts) part.unsynced = true;
      } else {
        // Sync on the thread pool, never on the event loop: appends made while the disk works
        // gather into the next flush (group commit), and the processors keep running. Several
        // files are synced in parallel (the disk merges them).
        const started = performance.now();
        const flushing = Promise.all(
          parts.map(
            (part) =>
              new Promise<void>((resolve, reject) =>
                fs.fdatasync(part.fd, (error) => (error === null ? resolve() : reject(error))),
              ),
          ),
        )
          .then(() => {
            // The sync alone: what the acknowledged appends go on to do is not the disk's time.
            const synced = performance.now() - started;
            this.#syncMs += (synced - this.#syncMs) / 8;
            publish(synced);
          }, fail)
          .finally(() => {
            this.#flushing = undefined;
            if (this.#waiters.length > 0) this.#flush();
          });
        this.#flushing = flushing;
        this.#pollWhileSyncing(flushing, started);
        return;
      }
    } catch (error) {
      fail(error);
      return;
    }
    publish();
  }

  /** Keeps the event loop turning while `flushing` is on the disk, see `pollWhileSyncingMs`. */
  #pollWhileSyncing(flushing: Promise<void>, started: number): void {
    const bound = this.#o.pollWhileSyncingMs;
    if (bound === 0 || this.#syncMs > bound) return;
    const until = started + bound;
    const turn = (): void => {
      if (this.#flushing === flushing && performance.now() < until) setImmediate(turn);
    };
    setImmediate(turn);
  }

  #writePending(part: Partition): void {
    const o = this.#o;
    if (part.written > 0 && part.written + part.pendingBytes > o.segmentBytes) this.#roll(part);
    const buffers = part.pending;
    let offset = part.pendingFirst;
    let position = part.written;
    const active = part.active;
    // Each pending buffer is one batch frame.
    for (const buf of buffers) {
      if (position - part.lastIndexed >= o.indexIntervalBytes) {
        active.index.push(offset, position);
        part.lastIndexed = position;
      }
      position += buf.length;
      offset += frameCount(buf, 0);
    }
    let written = fs.writevSync(part.fd, buffers);
    if (written < part.pendingBytes) {
      // Short write: finish it from the concatenation.
      const all = Buffer.concat(buffers);
      while (written < all.length) written += fs.writeSync(part.fd, all, written);
    }
    part.tail.set(active, part.written, buffers, part.pendingEntries, part.pendingBytes);
    part.written += part.pendingBytes;
    part.nextOffsetWritten = offset;
    part.pending = [];
    part.pendingEntries = [];
    part.pendingBytes = 0;
  }

  #roll(part: Partition): void {
    const o = this.#o;
    const old = part.active;
    if (o.fsync !== 'none') fs.fdatasyncSync(part.fd);
    fs.closeSync(part.fd);
    part.fd = -1;
    old.size = part.written;
    writeIndex(old, o.fsync !== 'none');
    const base = part.pendingFirst;
    const name = segmentName(base) + SEGMENT_SUFFIX;
    const file = path.join(part.dir, name);
    part.fd = fs.openSync(file, 'a');
    if (o.fsync !== 'none') fsyncDir(part.dir);
    part.segments.push({
      base,
      file,
      rel: `${part.rel}/${name}`,
      size: 0,
      index: [],
      deleted: false,
    });
    part.written = 0;
    part.lastIndexed = -Infinity;
    part.unsynced = false;
    this.#applyRetention(part);
  }

  #syncDirty(): void {
    // Synchronous, like the writes: an async sync could race with a segment roll closing the fd.
    if (this.#flushing !== undefined || this.#closed !== undefined) return;
    for (const state of this.#streams.values()) {
      for (const part of state.partitions) {
        if (!part.unsynced || part.fd < 0) continue;
        part.unsynced = false;
        try {
          fs.fdatasyncSync(part.fd);
        } catch (error) {
          this.#failed ??= storageError(error, 'periodic sync failed; reopen the log to recover');
        }
      }
    }
  }

  // ---------------------------------------------------------------- reading

  read(stream: string, options: ReadOptions = {}): AsyncIterable<LogRecord> {
    // Checked when iterated, as an async generator would be; then the partitions' own readers
    // are handed out, not wrapped in another generator (each layer costs every record a turn).
    return lazily(() => {
      this.#check(stream);
      const from = options.from ?? 'earliest';
      validateFrom(from, stream);
      const state = this.#stream(stream);
      const parts =
        options.partition === undefined
          ? state.partitions
          : [this.#partition(stream, options.partition)];
      return this.#readParts(parts, () => from, options.follow ?? false, options.signal);
    });
  }

  #readParts(
    parts: readonly Partition[],
    fromOf: (part: Partition) => ReadFrom,
    follow: boolean,
    userSignal: AbortSignal | undefined,
  ): AsyncIterable<LogRecord> {
    const local = new AbortController();
    const signals = [this.#closing.signal, local.signal];
    if (userSignal !== undefined) signals.push(userSignal);
    const signal = AbortSignal.any(signals);
    // Resolve start positions now, so 'latest' means "after this call".
    const starts = parts.map((part) => this.#startOffset(part, fromOf(part)));
    // Without follow, partitions are read one after the other (cheaper than merging).
    if (!follow) return this.#readInTurn(parts, starts, signal, local);
    return mergeAsync(
      parts.map((part, i) => this.#readPartition(part, starts[i]!, true, signal)),
      { signal, stop: () => local.abort() },
    );
  }

  async *#readInTurn(
    parts: readonly Partition[],
    starts: readonly number[],
    signal: AbortSignal,
    local: AbortController,
  ): AsyncGenerator<LogRecord> {
    try {
      for (let i = 0; i < parts.length; i++) {
        yield* this.#readPartition(parts[i]!, starts[i]!, false, signal);
      }
    } finally {
      local.abort();
    }
  }

  #startOffset(part: Partition, from: ReadFrom): number {
    if (typeof from === 'number') return from;
    if (from === 'earliest') return 0;
    if (!this.#o.readOnly) return part.ackedEnd;
    // Read-only 'latest': the end of the valid data now on disk.
    this.#refresh(part);
    const last = part.segments[part.segments.length - 1];
    if (last === undefined) return 0;
    const scan = scanSegment(last, this.#o.readChunkBytes, this.#o.indexIntervalBytes);
    return last.base + scan.count;
  }

  async *#readPartition(
    part: Partition,
    from: number,
    follow: boolean,
    signal: AbortSignal,
  ): AsyncGenerator<LogRecord> {
    const o = this.#o;
    const readOnly = o.readOnly;
    if (readOnly) this.#refresh(part);
    // Without follow, the writer's readers stop at the end as it is now.
    const stopAt = follow || readOnly ? Infinity : part.ackedEnd;
    let seg: Segment | undefined = part.segmentFor(from);
    let fd = -1;
    let position = 0;
    let expected = 0;
    const openSeg = (s: Segment): void => {
      if (fd >= 0) fs.closeSync(fd);
      fd = -1;
      seg = s;
      const start = seek(s, Math.max(from, s.base));
      position = start.position;
      expected = start.offset;
      try {
        fd = fs.openSync(s.file, 'r');
      } catch (error) {
        if (errno(error) !== 'ENOENT') throw error;
        s.deleted = true; // removed by retention meanwhile: move on to the next one
      }
    };
    try {
      while (seg === undefined) {
        // Read-only and nothing written yet.
        if (!follow) return;
        await this.#wait(part, signal);
        if (signal.aborted) return;
        this.#refresh(part);
        seg = part.segmentFor(from);
      }
      openSeg(seg);
      let need = 0; // size of a frame larger than one chunk
      for (;;) {
        if (signal.aborted || expected >= stopAt) return;
        const current: Segment = seg;
        const end = current.deleted ? position : current.size;
        let stalled = false; // read-only: the tail is being written
        if (fd >= 0 && position < end) {
          const avail = end - position;
          // What this log just wrote is read from memory (tail.ts), the rest from the file.
          const own = readOnly ? undefined : part.tail.at(current, position, end);
          let buf: Buffer;
          let got: number;
          if (own !== undefined) {
            buf = own.frame;
            got = buf.length;
          } else {
            buf = Buffer.allocUnsafe(Math.min(Math.max(o.readChunkBytes, need), avail));
            got = fs.readSync(fd, buf, 0, buf.length, position);
          }
          need = 0;
          let i = 0;
          while (i < got) {
            // (a frame of its own write: checked when it was made)
            const check: FrameCheck =
              own !== undefined ? { kind: 'ok', end: got } : checkFrame(buf, i, got);
            if (check.kind === 'short') {
              if (i > 0) break; // the rest of this frame comes with the next chunk
              const size =
                got >= FRAME_HEADER_BYTES ? FRAME_HEADER_BYTES + buf.readUInt32LE(0) : Infinity;
              if (size <= avail && size > got) {
                need = size;
                break;
              }
              if (readOnly && part.nextSegment(current) === undefined) {
                stalled = true;
                break;
              }
              throw this.#corrupt(part, current, position, expected, 'truncated record');
            }
            if (check.kind === 'bad' || frameOffset(buf, i) !== expected) {
              if (readOnly && part.nextSegment(current) === undefined) {
                // A batch being written, unless intact batches already follow it (damage).
                const skipTo = position + i + FRAME_HEADER_BYTES + buf.readUInt32LE(i);
                const damaged =
                  skipTo < current.size &&
                  intactAt(fd, skipTo, expected, current.size) !== undefined;
                if (!damaged) {
                  stalled = true;
                  break;
                }
              }
              const reason =
                check.kind === 'bad' ? check.reason : `offset ${frameOffset(buf, i)} found`;
              throw this.#corrupt(part, current, position + i, expected, reason);
            }
            const n = frameCount(buf, i);
            if (expected + n > from) {
              const timestamp = frameTimestamp(buf, i);
              let at = firstRecord(i);
              const end = check.end;
              for (let k = 0; k < n; k++) {
                // Decoded inline (no intermediate object): replay speed is allocation-bound.
                const keyBytes = at + 12 <= end ? buf.readUInt32LE(at) : -1;
                const headersBytes = at + 12 <= end ? buf.readUInt32LE(at + 4) : 0;
                const valueBytes = at + 12 <= end ? buf.readUInt32LE(at + 8) : 0;
                const keyStart = at + 12;
                const headersStart = keyStart + keyBytes;
                const valueStart = headersStart + headersBytes;
                const next = valueStart + valueBytes;
                if (keyBytes < 0 || next > end) {
                  throw this.#corrupt(
                    part,
                    current,
                    position + i,
                    expected,
                    'record overruns its batch',
                  );
                }
                at = next;
                const offset = expected + k;
                if (offset < from) continue;
                const entry = own?.entries[k];
                yield {
                  stream: part.stream,
                  partition: part.id,
                  offset,
                  key: entry?.key ?? buf.toString('utf8', keyStart, headersStart),
                  value: new Uint8Array(buf.buffer, buf.byteOffset + valueStart, valueBytes),
                  headers:
                    entry?.headers !== undefined
                      ? { ...entry.headers }
                      : headersBytes === 0
                        ? {}
                        : (JSON.parse(buf.toString('utf8', headersStart, valueStart)) as Record<
                            string,
                            string
                          >),
                  timestamp,
                };
                if (signal.aborted || offset + 1 >= stopAt) return;
              }
            }
            expected += n;
            i = check.end;
          }
          position += i;
          if (!stalled && (i > 0 || need > 0)) continue;
        }
        // At the readable end of this segment (or stalled on a tail being written).
        if (readOnly) this.#refresh(part);
        const next = part.nextSegment(current);
        if (!stalled && position < current.size && !current.deleted) continue;
        if (next !== undefined && (current.deleted || position >= current.size)) {
          openSeg(next);
          continue;
        }
        if (!follow) return;
        await this.#wait(part, signal);
      }
    } finally {
      if (fd >= 0) fs.closeSync(fd);
    }
  }

  #corrupt(
    part: Partition,
    seg: Segment,
    position: number,
    offset: number,
    reason: string,
  ): CorruptRecordError {
    return new CorruptRecordError(`corrupt record (${reason})`, {
      segment: seg.rel,
      position,
      stream: part.stream,
      partition: part.id,
      offset,
      backend: BACKEND,
    });
  }

  #wait(part: Partition, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        part.wakers.delete(done);
        signal.removeEventListener('abort', done);
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      if (this.#o.readOnly) timer = setTimeout(done, this.#o.pollIntervalMs);
      else part.wakers.add(done);
    });
  }

  // ---------------------------------------------------------------- consumers

  #consumerFile(consumer: string, stream: string): string {
    if (typeof consumer !== 'string' || consumer === '') {
      throw new InvalidArgumentError('consumer name is required', { stream, backend: BACKEND });
    }
    return path.join(this.#streamDir(stream), 'consumers', `${encodeURIComponent(consumer)}.json`);
  }

  #readCommitted(consumer: string, stream: string): Positions {
    const known = this.#written.get(this.#consumerFile(consumer, stream));
    if (known !== undefined) return { ...known };
    try {
      const raw = JSON.parse(
        fs.readFileSync(this.#consumerFile(consumer, stream), 'utf8'),
      ) as Record<string, number>;
      const positions: Positions = {};
      for (const [p, offset] of Object.entries(raw)) positions[Number(p)] = offset;
      return positions;
    } catch (error) {
      if (errno(error) === 'ENOENT') return {};
      throw storageError(error, `cannot read the positions of ${consumer}`, stream);
    }
  }

  consume(stream: string, options: ConsumeOptions): AsyncIterable<LogRecord> {
    return lazily(() => {
      this.#check(stream);
      const state = this.#stream(stream);
      const committed = this.#readCommitted(options.consumer, stream);
      const fallback = options.from ?? 'earliest';
      return this.#readParts(
        state.partitions,
        (part) => committed[part.id] ?? fallback,
        true,
        options.signal,
      );
    });
  }

  commitStats(): CommitStats {
    return { ...this.#stats };
  }

  ends(stream: string, options: AbortOptions = {}): Promise<Positions> {
    try {
      options.signal?.throwIfAborted();
      this.#check(stream);
      const ends: Positions = {};
      for (const part of this.#stream(stream).partitions) ends[part.id] = part.ackedEnd;
      return Promise.resolve(ends);
    } catch (error) {
      return Promise.reject(storageError(error, `cannot open ${stream}`, stream));
    }
  }

  commit(
    consumer: string,
    stream: string,
    positions: Positions,
    options: AbortOptions = {},
  ): Promise<void> {
    try {
      options.signal?.throwIfAborted();
      this.#check(stream);
      if (this.#o.readOnly) throw new ReadOnlyLogError({ stream, consumer, backend: BACKEND });
      const state = this.#stream(stream);
      const file = this.#consumerFile(consumer, stream);
      const merged = { ...(this.#asked.get(file) ?? this.#readCommitted(consumer, stream)) };
      for (const [key, offset] of Object.entries(positions)) {
        const p = Number(key);
        if (state.partitions[p] === undefined || !Number.isSafeInteger(offset) || offset < 0) {
          throw new InvalidArgumentError(`invalid position ${offset} for partition ${key}`, {
            stream,
            consumer,
            partition: p,
            backend: BACKEND,
          });
        }
        merged[p] = offset;
      }
      fs.mkdirSync(path.dirname(file), { recursive: true });
      // Merged now, written in call order: a later commit's write starts after this one's.
      this.#asked.set(file, merged);
      const data = JSON.stringify(merged);
      const durable = this.#o.fsync !== 'none';
      const write = (this.#commitWrites.get(file) ?? Promise.resolve())
        .catch(() => undefined) // a failed write was reported to its own caller
        .then(() => writeAtomicAsync(file, data, durable));
      this.#commitWrites.set(file, write);
      const settled = (): void => {
        if (this.#commitWrites.get(file) === write) this.#commitWrites.delete(file);
      };
      return write.then(
        () => {
          settled();
          this.#written.set(file, merged);
        },
        (error: unknown) => {
          settled();
          // What is on disk is unknown: read it again next time.
          this.#asked.delete(file);
          this.#written.delete(file);
          throw storageError(error, `cannot commit for ${consumer}`, stream);
        },
      );
    } catch (error) {
      return Promise.reject(storageError(error, `cannot commit for ${consumer}`, stream));
    }
  }

  committed(consumer: string, stream: string, options: AbortOptions = {}): Promise<Positions> {
    try {
      options.signal?.throwIfAborted();
      this.#check(stream);
      this.#stream(stream);
      return Promise.resolve(this.#readCommitted(consumer, stream));
    } catch (error) {
      return Promise.reject(
        storageError(error, `cannot read the positions of ${consumer}`, stream),
      );
    }
  }

  // ---------------------------------------------------------------- closing

  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    // Let appends of the current tick reach their flush, then stop readers.
    await Promise.resolve();
    if (this.#flushScheduled) this.#flush();
    while (this.#flushing !== undefined) await this.#flushing;
    // Commits under way finish (their callers were told they would be durable).
    while (this.#commitWrites.size > 0) await Promise.allSettled([...this.#commitWrites.values()]);
    this.#closing.abort();
    if (this.#syncTimer !== undefined) clearInterval(this.#syncTimer);
    this.#releaseFiles();
  }

  /**
   * Writes `part`'s clean-close marker and its active segment's index ({@link CLEAN_CLOSE}):
   * its records are synced, and nothing failed. Neither file is synced: lost or torn in a
   * crash, it is not used (the next open scans).
   */
  #markCleanClose(part: Partition): void {
    if (this.#o.fsync === 'none' || this.#failed !== undefined) return;
    if (part.written < CLEAN_CLOSE_MIN_BYTES || part.pending.length > 0) return;
    const active = part.active;
    writeIndex(active, false);
    const marker = { base: active.base, size: part.written, count: part.nextOffset - active.base };
    writeAtomic(path.join(part.dir, CLEAN_CLOSE), JSON.stringify(marker), false);
  }

  #releaseFiles(): void {
    for (const state of this.#streams.values()) {
      for (const part of state.partitions) {
        part.wake();
        if (part.fd >= 0) {
          try {
            if (part.unsynced && this.#o.fsync !== 'none') fs.fdatasyncSync(part.fd);
            this.#markCleanClose(part);
          } finally {
            fs.closeSync(part.fd);
            part.fd = -1;
          }
        }
      }
    }
    if (this.#lockFd >= 0) {
      fs.closeSync(this.#lockFd);
      this.#lockFd = -1;
      fs.rmSync(path.join(this.#o.dir, 'LOCK'), { force: true });
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * An iterable made when it is iterated: `open` runs at `[Symbol.asyncIterator]()`, and an error
 * it throws rejects the first `next()` (then the iteration is done), as in an async generator.
 */
function lazily<T>(open: () => AsyncIterable<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      try {
        return open()[Symbol.asyncIterator]();
      } catch (error) {
        const failure = error instanceof Error ? error : new Error(String(error));
        let failed = false;
        return {
          next: () => {
            if (failed) return Promise.resolve({ done: true, value: undefined });
            failed = true;
            return Promise.reject(failure);
          },
          return: () => Promise.resolve({ done: true, value: undefined }),
        };
      }
    },
  };
}

function validateFrom(from: ReadFrom, stream: string): void {
  if (typeof from === 'number' && (!Number.isSafeInteger(from) || from < 0)) {
    throw new InvalidArgumentError(`invalid start offset ${from}`, { stream, backend: BACKEND });
  }
}

function assertStreamNameOrThrow(name: string): void {
  try {
    assertStreamName(name);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message, {
      stream: name,
      backend: BACKEND,
      cause: error,
    });
  }
}
