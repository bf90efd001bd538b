import fs, {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { TAIL_MAX_BYTES } from '../../streams/file/tail.ts';
import type { AppendRecord, Log, LogRecord } from '../../streams/log.ts';
import {
  CorruptRecordError,
  InvalidArgumentError,
  LogClosedError,
  LogLockedError,
  ReadOnlyLogError,
  StreamNotFoundError,
} from '../../streams/errors.ts';
import { describeLog } from '../conformance/log.suite.ts';
import { describeBlocks } from '../conformance/blocks.suite.ts';
import { withBlocks } from '../../processors/blocks/blocks-log.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipvm-file-log-'));
  tempDirs.push(dir);
  return dir;
}
async function all(source: AsyncIterable<LogRecord>): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const r of source) out.push(r);
  return out;
}
/** The first `n` records of stream `s`, followed from its start. */
async function follow(l: Log, n: number): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const r of l.read('s', { follow: true })) {
    out.push(r);
    if (out.length === n) break;
  }
  return out;
}
/** Counts `fs.readSync` calls (the file log's reads of its files) until `restore()`. */
function countReads(): { count: number; restore(): void } {
  const original = fs.readSync;
  const counter = {
    count: 0,
    restore() {
      (fs as { readSync: unknown }).readSync = original;
      syncBuiltinESMExports();
    },
  };
  (fs as { readSync: unknown }).readSync = (...args: Parameters<typeof fs.readSync>) => {
    counter.count++;
    return original(...args);
  };
  syncBuiltinESMExports();
  return counter;
}

let n = 0;
describeLog('file', () => {
  const dir = tempDir();
  return Promise.resolve({
    // A promise that rejects (not a throw) when the directory is locked.
    open: () => new Promise<Log>((resolve) => resolve(createFileLog({ dir }))),
    streamName: (hint: string) => `t${++n}.${hint}`,
    denseOffsets: true,
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
});

describeBlocks('file', () => {
  const dir = tempDir();
  return Promise.resolve({
    open: () => Promise.resolve(createFileLog({ dir })),
    streamName: (hint: string) => `b${++n}.${hint}`,
    denseOffsets: true,
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
});

// The wrapper that stores large values once keeps the whole Log contract (it is what every
// reader and writer of the node's streams is given).
describeLog('file, large values stored once', () => {
  const dir = tempDir();
  return Promise.resolve({
    open: () =>
      new Promise<Log>((resolve) =>
        resolve(withBlocks(createFileLog({ dir }), { stream: 'blocks', threshold: 64 })),
      ),
    streamName: (hint: string) => `w${++n}.${hint}`,
    denseOffsets: true,
    cleanup: () => Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  });
});

describe('file log', () => {
  let log: Log | undefined;
  afterEach(async () => {
    await log?.close();
    log = undefined;
    for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('reports a bad read when it is iterated, once, with the stream named', async () => {
    const dir = tempDir();
    log = createFileLog({ dir });
    await log.ensureStreams([{ name: 's', partitions: 2 }]);
    const bad: Array<[AsyncIterable<LogRecord>, new (...args: never[]) => Error, RegExp]> = [
      [log.read('nope'), StreamNotFoundError, /nope/],
      [log.read('s', { from: -1 }), InvalidArgumentError, /invalid start offset -1/],
      [log.read('s', { partition: 7, follow: true }), InvalidArgumentError, /partition 7/],
      [log.consume('nope', { consumer: 'c' }), StreamNotFoundError, /nope/],
      [log.consume('s', { consumer: '' }), InvalidArgumentError, /consumer name/],
    ];
    for (const [iterable, type, message] of bad) {
      // Nothing is thrown by the call itself: the first next() rejects, then the read is done.
      const it = iterable[Symbol.asyncIterator]();
      const first = it.next();
      await expect(first).rejects.toBeInstanceOf(type);
      await expect(first).rejects.toThrow(message);
      await expect(it.next()).resolves.toEqual({ done: true, value: undefined });
    }
    await log.close();
    await expect(all(log.read('s'))).rejects.toBeInstanceOf(LogClosedError);
  });

  it('allows one writer per directory and read-only readers beside it', async () => {
    const dir = tempDir();
    log = createFileLog({ dir });
    expect(() => createFileLog({ dir })).toThrow(LogLockedError);
    await log.ensureStreams([{ name: 's', partitions: 1 }]);
    await log.append('s', [{ key: 'k', value: enc.encode('one') }]);
    const reader = createFileLog({ dir, readOnly: true, pollIntervalMs: 5 });
    try {
      await expect(
        reader.append('s', [{ key: 'k', value: enc.encode('x') }]),
      ).rejects.toBeInstanceOf(ReadOnlyLogError);
      const controller = new AbortController();
      const seen: string[] = [];
      const tail = (async () => {
        for await (const r of reader.read('s', { follow: true, signal: controller.signal })) {
          seen.push(dec.decode(r.value));
          if (seen.length === 3) controller.abort();
        }
      })();
      await log.append('s', [{ key: 'k', value: enc.encode('two') }]);
      await log.append('s', [{ key: 'k', value: enc.encode('three') }]);
      await tail;
      expect(seen).toEqual(['one', 'two', 'three']);
    } finally {
      await reader.close();
    }
    await log.close();
    // After a clean close the lock is released.
    log = createFileLog({ dir });
  });

  it('takes over the lock of a writer that died', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'LOCK'), '999999999\n');
    log = createFileLog({ dir });
    await log.ensureStreams([{ name: 's', partitions: 1 }]);
  });

  it('rolls segments, reads across them and seeks by offset', async () => {
    const dir = tempDir();
    log = createFileLog({ dir, segmentBytes: 4096, indexIntervalBytes: 256 });
    await log.ensureStreams([{ name: 's', partitions: 1 }]);
    for (let b = 0; b < 20; b++) {
      await log.append(
        's',
        Array.from({ length: 10 }, (_, i) => ({
          key: 'k',
          value: enc.encode(`${b * 10 + i}`.padEnd(100, '.')),
        })),
      );
    }
    const segments = readdirSync(join(dir, 's', '0')).filter((f) => f.endsWith('.log'));
    expect(segments.length).toBeGreaterThan(3);
    const records = await all(log.read('s'));
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    const from = await all(log.read('s', { from: 137 }));
    expect(from[0]!.offset).toBe(137);
    expect(from).toHaveLength(63);
    // Reopen: indexes of closed segments are loaded, offsets continue.
    await log.close();
    log = createFileLog({ dir, segmentBytes: 4096 });
    const [next] = await log.append('s', [{ key: 'k', value: enc.encode('after') }]);
    expect(next!.offset).toBe(200);
    expect((await all(log.read('s', { from: 199 }))).map((r) => r.offset)).toEqual([199, 200]);
  });

  it('follows across segment rolls, in this process and from a read-only one', async () => {
    const dir = tempDir();
    log = createFileLog({ dir, segmentBytes: 2048 });
    await log.ensureStreams([{ name: 's', partitions: 1 }]);
    const reader = createFileLog({ dir, readOnly: true, pollIntervalMs: 2 });
    try {
      const follow = async (source: Log): Promise<number[]> => {
        const controller = new AbortController();
        const offsets: number[] = [];
        for await (const r of source.read('s', { follow: true, signal: controller.signal })) {
          offsets.push(r.offset);
          if (offsets.length === 100) controller.abort();
        }
        return offsets;
      };
      const local = follow(log);
      const remote = follow(reader);
      for (let i = 0; i < 100; i++) {
        await log.append('s', [{ key: 'k', value: new Uint8Array(100).fill(i) }]);
        if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const expected = Array.from({ length: 100 }, (_, i) => i);
      expect(await local).toEqual(expected);
      expect(await remote).toEqual(expected);
      expect(
        readdirSync(join(dir, 's', '0')).filter((f) => f.endsWith('.log')).length,
      ).toBeGreaterThan(3);
    } finally {
      await reader.close();
    }
  });

  it('releases a one-partition follow read when it is returned while waiting for records', async () => {
    // What an unsubscribing processor does: `return()` while a `next()` waits for a record that
    // may never come. The read of a single partition is the partition's reader itself (no
    // merging generator around it), stopped first so that its wait ends.
    log = createFileLog({ dir: tempDir() });
    await log.ensureStreams([{ name: 's', partitions: 1 }]);
    await log.append('s', [{ key: 'k', value: enc.encode('first') }]);
    for (const options of [{ follow: true }, { follow: true, partition: 0 }]) {
      const iterator = log.read('s', options)[Symbol.asyncIterator]();
      const first = (await iterator.next()) as IteratorYieldResult<LogRecord>;
      expect(dec.decode(first.value.value)).toBe('first');
      let settled = false;
      const pending = iterator.next().finally(() => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(settled).toBe(false); // waiting for a record
      await iterator.return!();
      expect(await pending).toEqual({ done: true, value: undefined });
    }
    // Nothing is left waiting: the log closes at once.
    await log.close();
  });

  it('deletes whole old segments by size retention', async () => {
    const dir = tempDir();
    log = createFileLog({ dir, segmentBytes: 2048, retention: { maxBytes: 8192 } });
    await log.ensureStreams([{ name: 's', partitions: 1 }]);
    for (let b = 0; b < 40; b++) {
      await log.append(
        's',
        Array.from({ length: 5 }, () => ({ key: 'k', value: new Uint8Array(100) })),
      );
    }
    const files = readdirSync(join(dir, 's', '0')).filter((f) => f.endsWith('.log'));
    const total = files.reduce((sum, f) => sum + statSync(join(dir, 's', '0', f)).size, 0);
    expect(total).toBeLessThanOrEqual(8192 + 2048 + 1024);
    const records = await all(log.read('s'));
    expect(records.length).toBeLessThan(200);
    expect(records[records.length - 1]!.offset).toBe(199);
    // Offsets stay dense from the earliest retained record.
    expect(records.map((r) => r.offset)).toEqual(records.map((_, i) => records[0]!.offset + i));
  });

  it('deletes whole old segments by age retention, keeping the active one', async () => {
    const dir = tempDir();
    let now = Date.now();
    log = createFileLog({
      dir,
      segmentBytes: 1024,
      retention: { maxAgeMs: 60_000 },
      now: () => now,
    });
    await log.ensureStreams([{ name: 's', partitions: 1 }]);
    for (let b = 0; b < 10; b++) {
      await log.append('s', [{ key: 'k', value: new Uint8Array(600) }]);
    }
    const before = readdirSync(join(dir, 's', '0')).filter((f) => f.endsWith('.log')).length;
    expect(before).toBeGreaterThan(3);
    // An hour later, the next roll deletes every closed segment.
    now += 3_600_000;
    await log.append('s', [{ key: 'k', value: new Uint8Array(600) }]);
    const after = readdirSync(join(dir, 's', '0')).filter((f) => f.endsWith('.log'));
    expect(after.length).toBe(1);
    const records = await all(log.read('s'));
    expect(records.map((r) => r.offset)).toEqual([10]);
  });

  it('reads from latest in a read-only instance', async () => {
    const dir = tempDir();
    log = createFileLog({ dir });
    await log.ensureStreams([{ name: 's', partitions: 1 }]);
    await log.append('s', [{ key: 'k', value: enc.encode('old') }]);
    const reader = createFileLog({ dir, readOnly: true, pollIntervalMs: 5 });
    try {
      const controller = new AbortController();
      const seen: string[] = [];
      const tail = (async () => {
        for await (const r of reader.read('s', {
          from: 'latest',
          follow: true,
          signal: controller.signal,
        })) {
          seen.push(dec.decode(r.value));
          controller.abort();
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 50));
      await log.append('s', [{ key: 'k', value: enc.encode('new') }]);
      await tail;
      expect(seen).toEqual(['new']);
    } finally {
      await reader.close();
    }
  });

  it('truncates a torn tail on open and never returns it', async () => {
    const dir = tempDir();
    log = createFileLog({ dir });
    await log.ensureStreams([{ name: 's', partitions: 1 }]);
    await log.append('s', [
      { key: 'k', value: enc.encode('first') },
      { key: 'k', value: enc.encode('second') },
    ]);
    await log.close();
    log = undefined;
    const segment = join(dir, 's', '0', '00000000000000000000.log');
    const good = statSync(segment).size;
    // A half-written third record: a frame header claiming 100 bytes, then 10 bytes.
    const torn = Buffer.alloc(18);
    torn.writeUInt32LE(100, 0);
    writeFileSync(segment, torn, { flag: 'a' });
    log = createFileLog({ dir });
    expect(statSync(segment).size).toBe(good);
    expect((await all(log.read('s'))).map((r) => dec.decode(r.value))).toEqual(['first', 'second']);
    const [third] = await log.append('s', [{ key: 'k', value: enc.encode('third') }]);
    expect(third!.offset).toBe(2);
  });

  it('reports a corrupt record in the middle of a segment with its segment and offset', async () => {
    const dir = tempDir();
    log = createFileLog({ dir });
    await log.ensureStreams([{ name: 's', partitions: 1 }]);
    // Ten appends: ten batches of one record, each framed and checksummed on its own.
    for (let i = 0; i < 10; i++) {
      await log.append('s', [{ key: 'k', value: enc.encode(`value-${i}`.padEnd(64, '#')) }]);
    }
    await log.close();
    log = undefined;
    const segment = join(dir, 's', '0', '00000000000000000000.log');
    const data = readFileSync(segment);
    const frame = data.length / 10;
    // Flip a byte inside the value of record 4 (not the last one: no tail truncation applies).
    data[frame * 4 + frame - 5]! ^= 0xff;
    writeFileSync(segment, data);
    log = createFileLog({ dir });
    const seen: LogRecord[] = [];
    let error: unknown;
    try {
      for await (const r of log.read('s')) seen.push(r);
    } catch (e) {
      error = e;
    }
    expect(seen.map((r) => r.offset)).toEqual([0, 1, 2, 3]);
    expect(error).toBeInstanceOf(CorruptRecordError);
    const corrupt = error as CorruptRecordError;
    expect(corrupt.segment).toBe('s/0/00000000000000000000.log');
    expect(corrupt.offset).toBe(4);
    expect(corrupt.position).toBe(frame * 4);
    expect(corrupt.retryable).toBe(false);
    expect(corrupt.message).toContain('s/0/00000000000000000000.log');
    expect(corrupt.message).toContain('offset 4');
    // A read-only reader does not mistake the damage for a batch still being written.
    const reader = createFileLog({ dir, readOnly: true });
    try {
      await expect(all(reader.read('s'))).rejects.toBeInstanceOf(CorruptRecordError);
    } finally {
      await reader.close();
    }
  });

  describe('a writer closed cleanly', () => {
    // Enough records for the active segment to pass the 1 MiB from which a clean close leaves a
    // marker (a smaller segment is scanned at open anyway), one batch per record.
    const N = 1_200;
    const value = (i: number): Uint8Array => enc.encode(`value-${i}`.padEnd(1_000, '#'));
    async function written(): Promise<{ dir: string; segment: string }> {
      const dir = tempDir();
      const l = createFileLog({ dir });
      await l.ensureStreams([{ name: 's', partitions: 1 }]);
      for (let i = 0; i < N; i++) await l.append('s', [{ key: 'k', value: value(i) }]);
      await l.close();
      return { dir, segment: join(dir, 's', '0', '00000000000000000000.log') };
    }
    /** Appends `text` to the open log (offset N), reopens it: all N + 1 records, `text` last. */
    async function appendThenReopen(dir: string, text: string): Promise<void> {
      const [at] = await log!.append('s', [{ key: 'k', value: enc.encode(text) }]);
      expect(at!.offset).toBe(N);
      await log!.close();
      log = createFileLog({ dir });
      const records = await all(log.read('s'));
      expect(records).toHaveLength(N + 1);
      expect(dec.decode(records[N]!.value)).toBe(text);
    }

    it('reopens without scanning: a record damaged after the close is reported, not dropped', async () => {
      const { dir, segment } = await written();
      expect(existsSync(join(dir, 's', '0', 'clean-close.json'))).toBe(true);
      // Damage inside the last record's value, the file's size unchanged. A scan at open would
      // take it for a torn tail and drop the record; the clean close says the segment was whole.
      const data = readFileSync(segment);
      data[data.length - 5]! ^= 0xff;
      writeFileSync(segment, data);
      log = createFileLog({ dir });
      const seen: LogRecord[] = [];
      const error = await (async () => {
        for await (const r of log.read('s')) seen.push(r);
      })().catch((e: unknown) => e);
      expect(seen).toHaveLength(N - 1);
      expect(error).toBeInstanceOf(CorruptRecordError);
      expect((error as CorruptRecordError).offset).toBe(N - 1);
      // The marker no longer holds once the writer may append: it is gone.
      expect(existsSync(join(dir, 's', '0', 'clean-close.json'))).toBe(false);
    });

    it('reopens at the same offsets, seeks by its index, and appends after the last record', async () => {
      const { dir } = await written();
      log = createFileLog({ dir });
      const [r] = await all(log.read('s', { from: 777 }));
      expect(r!.offset).toBe(777);
      expect(dec.decode(r!.value)).toBe(dec.decode(value(777)));
      await appendThenReopen(dir, 'next');
    });

    it('still truncates a torn tail written after the close (the size no longer matches)', async () => {
      const { dir, segment } = await written();
      // A write cut short after the clean close: a frame header promising more than follows.
      const torn = Buffer.alloc(24, 0);
      torn.writeUInt32LE(500, 0);
      appendFileSync(segment, torn);
      log = createFileLog({ dir });
      const records = await all(log.read('s'));
      expect(records).toHaveLength(N);
      await appendThenReopen(dir, 'after');
    });
  });

  it('supports the interval and none fsync policies', async () => {
    for (const fsync of [{ intervalMs: 5 }, 'none'] as const) {
      const dir = tempDir();
      const l = createFileLog({ dir, fsync });
      await l.ensureStreams([{ name: 's', partitions: 2 }]);
      await l.append(
        's',
        Array.from({ length: 100 }, (_, i) => ({ key: `k${i}`, value: new Uint8Array(10) })),
      );
      await new Promise((resolve) => setTimeout(resolve, 20));
      await l.close();
      const reopened = createFileLog({ dir, fsync });
      expect(await all(reopened.read('s'))).toHaveLength(100);
      await reopened.close();
    }
  });

  it('syncs a commit off the event loop, in call order, and finishes it before closing', async () => {
    const dir = tempDir();
    log = createFileLog({ dir });
    await log.ensureStreams([{ name: 's', partitions: 2 }]);
    // The event loop turns while the commit's syncs are under way (a synchronous commit blocked
    // it ~1–2 ms every commit interval, delaying every task and append meanwhile).
    let turned = false;
    setImmediate(() => (turned = true));
    const first = log.commit('c', 's', { 0: 5 });
    const second = log.commit('c', 's', { 1: 7 });
    const third = log.commit('c', 's', { 0: 9 });
    await first;
    expect(turned).toBe(true);
    // Not closed before the last one is on disk; each merges over the ones before it.
    await log.close();
    log = undefined;
    await Promise.all([second, third]);
    const reopened = createFileLog({ dir });
    try {
      expect(await reopened.committed('c', 's')).toEqual({ 0: 9, 1: 7 });
    } finally {
      await reopened.close();
    }
  });

  it('keeps the event loop turning while a group commit syncs, and only then', async () => {
    // The loop's busy share over 100 sequential durable appends: with `pollWhileSyncingMs` it
    // does not sleep while a sync is on the disk (it sees the completion on its next turn); once
    // the appends are done it sleeps again, polling or not.
    const busy = async (pollWhileSyncingMs: number): Promise<{ during: number; idle: number }> => {
      const l = createFileLog({ dir: tempDir(), pollWhileSyncingMs });
      try {
        await l.ensureStreams([{ name: 's', partitions: 1 }]);
        await l.append('s', [{ key: 'k', value: new Uint8Array(8) }]);
        const start = performance.eventLoopUtilization();
        for (let i = 0; i < 100; i++) await l.append('s', [{ key: 'k', value: new Uint8Array(8) }]);
        const during = performance.eventLoopUtilization(start).utilization;
        const rest = performance.eventLoopUtilization();
        await new Promise((resolve) => setTimeout(resolve, 100));
        const idle = performance.eventLoopUtilization(rest).utilization;
        expect(await all(l.read('s'))).toHaveLength(101);
        return { during, idle };
      } finally {
        await l.close();
      }
    };
    const polling = await busy(50);
    const sleeping = await busy(0);
    expect(polling.during).toBeGreaterThan(0.8);
    expect(sleeping.during).toBeLessThan(polling.during);
    expect(polling.idle).toBeLessThan(0.5);
    expect(sleeping.idle).toBeLessThan(0.5);
  });

  it('lets the event loop sleep while syncs take longer than the poll bound', async () => {
    // A slow disk, made by an fdatasync that completes after 10 ms (and syncs nothing: the
    // real one's own time, ~10 ms more on a busy machine, made the polled share vary): with a
    // bound of 8 ms the first syncs are polled for 8 ms each, then the moving average of their
    // durations passes the bound and the loop sleeps through them (polling would burn 8 ms per
    // commit and still sleep the rest).
    const original = fs.fdatasync;
    (fs as { fdatasync: unknown }).fdatasync = (_fd: number, callback: (e: Error | null) => void) =>
      setTimeout(() => callback(null), 10);
    syncBuiltinESMExports();
    const l = createFileLog({ dir: tempDir(), pollWhileSyncingMs: 8 });
    try {
      await l.ensureStreams([{ name: 's', partitions: 1 }]);
      const append = (): Promise<unknown> =>
        l.append('s', [{ key: 'k', value: new Uint8Array(8) }]);
      const first = performance.eventLoopUtilization();
      for (let i = 0; i < 3; i++) await append();
      const polled = performance.eventLoopUtilization(first).utilization;
      for (let i = 0; i < 25; i++) await append();
      const later = performance.eventLoopUtilization();
      for (let i = 0; i < 10; i++) await append();
      const slept = performance.eventLoopUtilization(later).utilization;
      // Busy while polling, idle once the gate closes (with the gate removed, `slept` stays
      // near `polled`; without polling, `polled` is near 0). Relative, as a loaded machine
      // stretches the timers.
      expect(polled).toBeGreaterThan(0.4);
      expect(slept).toBeLessThan(polled / 3);
    } finally {
      (fs as { fdatasync: unknown }).fdatasync = original;
      syncBuiltinESMExports();
      await l.close();
    }
  });

  it("gives a follower at the tail the log's last write from memory: the records the file holds", async () => {
    // A follower of a stream this log appends to is woken once each flush is durable; at the
    // tail it takes the frames just written (streams/file/tail.ts) instead of reading them
    // back. Counted by readSync calls: one per flush without it. What it reads must be what a
    // reader of the files gets, keys and headers included (odd ones are read back from bytes).
    const dir = tempDir();
    const l = createFileLog({ dir });
    const reads = countReads();
    const batches = 300;
    const batch = (i: number): AppendRecord[] => [
      { key: `k${i}`, value: enc.encode(`v${i}`), headers: { 'ipvm-type': 'receipt', n: `${i}` } },
      { key: 'no headers', value: new Uint8Array(i % 7) },
      { key: `lone \ud800 ${i}`, value: enc.encode('x'), headers: { odd: 1 } as never },
      { key: 'é€𝄞', value: new Uint8Array(300).fill(i % 256), headers: { 'ü\u{1F600}': 'ÿ' } },
    ];
    let followed: LogRecord[];
    try {
      await l.ensureStreams([{ name: 's', partitions: 1 }]);
      const reading = follow(l, batches * 4);
      for (let i = 0; i < batches; i++) await l.append('s', batch(i));
      followed = await reading;
    } finally {
      reads.restore();
      await l.close();
    }
    expect(reads.count).toBeLessThan(batches / 10);
    const reader = createFileLog({ dir, readOnly: true });
    try {
      const fromFile = await all(reader.read('s'));
      expect(fromFile).toHaveLength(batches * 4);
      expect(followed).toEqual(fromFile);
      expect(followed[2]!.key).toBe('lone \ufffd 0'); // as the file has it
      expect(followed[2]!.headers).toEqual({ odd: 1 });
    } finally {
      await reader.close();
    }
  });

  it('reads a write larger than the tail keeps back from the file', async () => {
    const l = createFileLog({ dir: tempDir() });
    const reads = countReads();
    try {
      await l.ensureStreams([{ name: 's', partitions: 1 }]);
      const big = new Uint8Array(TAIL_MAX_BYTES + 1).fill(9);
      const reading = follow(l, 2);
      await l.append('s', [{ key: 'small', value: enc.encode('x') }]);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const before = reads.count;
      await l.append('s', [{ key: 'big', value: big }]);
      const [small, read] = await reading;
      expect(reads.count).toBeGreaterThan(before); // not held in memory
      expect(small!.key).toBe('small');
      expect(read!.key).toBe('big');
      expect(read!.value).toEqual(big);
    } finally {
      reads.restore();
      await l.close();
    }
  });

  it('refuses a poll bound that is not a number of milliseconds', () => {
    for (const pollWhileSyncingMs of [-1, Number.NaN, Infinity, 5000, '1' as unknown as number]) {
      expect(() => createFileLog({ dir: tempDir(), pollWhileSyncingMs })).toThrow(
        /pollWhileSyncingMs/,
      );
    }
  });

  it('groups concurrent appends into one flush with per-call results', async () => {
    const dir = tempDir();
    log = createFileLog({ dir });
    await log.ensureStreams([{ name: 's', partitions: 4 }]);
    const calls = await Promise.all(
      Array.from({ length: 50 }, (_, c) =>
        log!.append(
          's',
          Array.from({ length: 4 }, (_, i) => ({ key: `k${c}-${i}`, value: enc.encode(`${c}`) })),
        ),
      ),
    );
    const seen = new Set(calls.flat().map((r) => `${r.partition}:${r.offset}`));
    expect(seen.size).toBe(200);
    expect(await all(log.read('s'))).toHaveLength(200);
  });

  it('counts its group commits, the records they acknowledged and their syncs', async () => {
    const dir = tempDir();
    log = createFileLog({ dir });
    await log.ensureStreams([{ name: 's', partitions: 2 }]);
    expect(log.commitStats?.()).toEqual({ commits: 0, records: 0, syncSeconds: 0 });
    const records = (n: number): AppendRecord[] =>
      Array.from({ length: n }, (_, i) => ({ key: `k${i}`, value: enc.encode('v') }));
    // Appends made in one tick: one commit. One made after it was acknowledged: a second.
    await Promise.all([log.append('s', records(3)), log.append('s', records(4))]);
    const first = log.commitStats!();
    expect(first.commits).toBe(1);
    expect(first.records).toBe(7);
    expect(first.syncSeconds).toBeGreaterThan(0);
    await log.append('s', records(5));
    const second = log.commitStats!();
    expect(second.commits).toBe(2);
    expect(second.records).toBe(12);
    expect(second.syncSeconds).toBeGreaterThan(first.syncSeconds);
    // A copy: what the caller holds does not move.
    expect(first.commits).toBe(1);
    // Through a decorator (large values stored once), as the composition root opens it.
    const decorated = withBlocks(log, { stream: 'blocks' });
    expect(decorated.commitStats?.()).toEqual(second);

    // Without syncs before acknowledging: commits and records, no sync time.
    const none = createFileLog({ dir: tempDir(), fsync: 'none' });
    try {
      await none.ensureStreams([{ name: 's', partitions: 1 }]);
      await none.append('s', records(2));
      expect(none.commitStats?.()).toEqual({ commits: 1, records: 2, syncSeconds: 0 });
    } finally {
      await none.close();
    }
  });
});
