// The conformance suite of the Log contract, run against every backend:
//   describeLog('file', async () => fixture)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppendRecord, Log, LogRecord } from '../../streams/log.ts';
import { partitionForKey } from '../../streams/log.ts';
import { LogClosedError, StreamConfigError, StreamNotFoundError } from '../../streams/errors.ts';
import { deadLetterInfo, decodeOrDeadLetter, type Decoded } from '../../streams/dead-letter.ts';

/** What a backend's test file gives the suite. */
export interface LogFixture {
  /** Opens a log over the fixture's storage; called again to "reopen" after a close. */
  open(): Promise<Log>;
  /** A stream name no other test uses. */
  streamName(hint: string): string;
  /** Offsets are dense per partition and start at 0 (file log, Kafka; not JetStream). */
  denseOffsets: boolean;
  /** Removes what the fixture created. */
  cleanup?(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const text = (b: Uint8Array): string => dec.decode(b);

/** Collects up to `n` records (or all, without follow), with a safety timeout. */
async function take(
  source: AsyncIterable<LogRecord>,
  n: number,
  controller?: AbortController,
  timeoutMs = 20_000,
): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  const timer = setTimeout(() => controller?.abort(new Error('take: timed out')), timeoutMs);
  try {
    for await (const record of source) {
      out.push(record);
      if (out.length >= n) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}

export function describeLog(name: string, makeFixture: () => Promise<LogFixture>): void {
  describe(`Log conformance: ${name}`, () => {
    let fixture: LogFixture;
    let log: Log;

    beforeAll(async () => {
      fixture = await makeFixture();
      log = await fixture.open();
    });

    afterAll(async () => {
      await log?.close();
      await fixture?.cleanup?.();
    });

    it('creates streams idempotently and reports partitions', async () => {
      const stream = fixture.streamName('ensure');
      await log.ensureStreams([{ name: stream, partitions: 3 }]);
      await log.ensureStreams([{ name: stream, partitions: 3 }]);
      expect(await log.partitions(stream)).toBe(3);
      await expect(log.ensureStreams([{ name: stream, partitions: 5 }])).rejects.toBeInstanceOf(
        StreamConfigError,
      );
      await expect(log.partitions(fixture.streamName('missing'))).rejects.toBeInstanceOf(
        StreamNotFoundError,
      );
    });

    it('appends and reads back bytes, headers and timestamps', async () => {
      const stream = fixture.streamName('roundtrip');
      await log.ensureStreams([{ name: stream, partitions: 1 }]);
      const before = Date.now();
      const value = new Uint8Array(300).map((_, i) => i & 0xff);
      const results = await log.append(stream, [
        { key: 'k1', value, headers: { a: '1', 'content-type': 'application/cbor' } },
        { key: 'k2', value: new Uint8Array(0) },
      ]);
      expect(results).toHaveLength(2);
      expect(results.map((r) => r.partition)).toEqual([0, 0]);
      expect(results[1]!.offset).toBeGreaterThan(results[0]!.offset);
      if (fixture.denseOffsets) expect(results.map((r) => r.offset)).toEqual([0, 1]);
      expect(await log.append(stream, [])).toEqual([]);
      const records = await take(log.read(stream), 2);
      expect(records.map((r) => r.key)).toEqual(['k1', 'k2']);
      expect(Array.from(records[0]!.value)).toEqual(Array.from(value));
      expect(records[0]!.headers).toEqual({ a: '1', 'content-type': 'application/cbor' });
      expect(records[1]!.value.byteLength).toBe(0);
      expect(records[1]!.headers).toEqual({});
      expect(records[0]!.stream).toBe(stream);
      expect(records.map((r) => r.offset)).toEqual(results.map((r) => r.offset));
      expect(records[0]!.timestamp).toBeGreaterThanOrEqual(before - 5_000);
      expect(records[0]!.timestamp).toBeLessThanOrEqual(Date.now() + 5_000);
    });

    it('keeps per-key order, places keys by the stable hash, and gives increasing offsets', async () => {
      const stream = fixture.streamName('order');
      const partitions = 4;
      await log.ensureStreams([{ name: stream, partitions }]);
      const keys = Array.from({ length: 12 }, (_, i) => `bafy-key-${i}`);
      const sent = new Map<string, string[]>();
      for (let batch = 0; batch < 5; batch++) {
        const records: AppendRecord[] = [];
        for (let i = 0; i < 40; i++) {
          const key = keys[(i * 7 + batch) % keys.length]!;
          const value = `${key}#${batch}-${i}`;
          records.push({ key, value: bytes(value) });
          sent.set(key, [...(sent.get(key) ?? []), value]);
        }
        const results = await log.append(stream, records);
        results.forEach((r, i) =>
          expect(r.partition).toBe(partitionForKey(records[i]!.key, partitions)),
        );
      }
      const records = await take(log.read(stream), 200);
      expect(records).toHaveLength(200);
      const seen = new Map<string, string[]>();
      const lastOffset = new Map<number, number>();
      const perPartition = new Map<number, number[]>();
      for (const r of records) {
        expect(r.partition).toBe(partitionForKey(r.key, partitions));
        const prev = lastOffset.get(r.partition) ?? -1;
        expect(r.offset).toBeGreaterThan(prev);
        lastOffset.set(r.partition, r.offset);
        seen.set(r.key, [...(seen.get(r.key) ?? []), text(r.value)]);
        perPartition.set(r.partition, [...(perPartition.get(r.partition) ?? []), r.offset]);
      }
      expect(seen).toEqual(sent);
      if (fixture.denseOffsets) {
        for (const offsets of perPartition.values()) {
          expect(offsets).toEqual(offsets.map((_, i) => i));
        }
      }
    });

    it('reads one partition from an offset, and from latest', async () => {
      const stream = fixture.streamName('from');
      await log.ensureStreams([{ name: stream, partitions: 2 }]);
      const key = 'only-key';
      const p = partitionForKey(key, 2);
      const results = await log.append(
        stream,
        Array.from({ length: 10 }, (_, i) => ({ key, value: bytes(String(i)) })),
      );
      const fifth = results[5]!.offset;
      const tail = await take(log.read(stream, { partition: p, from: fifth }), 100);
      expect(tail.map((r) => text(r.value))).toEqual(['5', '6', '7', '8', '9']);
      const other = await take(log.read(stream, { partition: 1 - p }), 100);
      expect(other).toEqual([]);
      // 'latest' + follow: only what is appended after the read started.
      const controller = new AbortController();
      const latest = log.read(stream, {
        partition: p,
        from: 'latest',
        follow: true,
        signal: controller.signal,
      });
      const iterator = latest[Symbol.asyncIterator]();
      const first = iterator.next();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await log.append(stream, [{ key, value: bytes('new') }]);
      const got = await first;
      expect(got.done).toBe(false);
      expect(text((got.value as LogRecord).value)).toBe('new');
      controller.abort();
      await iterator.return?.();
    });

    it('reports the end of every partition: the next offset to be written', async () => {
      const stream = fixture.streamName('ends');
      await log.ensureStreams([{ name: stream, partitions: 2 }]);
      expect(await log.ends(stream)).toEqual({ 0: 0, 1: 0 });
      const key = 'end-key';
      const p = partitionForKey(key, 2);
      const results = await log.append(
        stream,
        Array.from({ length: 4 }, (_, i) => ({ key, value: bytes(String(i)) })),
      );
      const ends = await log.ends(stream);
      expect(ends[1 - p]).toBe(0);
      // Past the last record: a read from the end finds nothing, one from before it does.
      expect(ends[p]).toBeGreaterThan(results.at(-1)!.offset);
      if (fixture.denseOffsets) expect(ends[p]).toBe(4);
      expect(await take(log.read(stream, { partition: p, from: ends[p] }), 10)).toEqual([]);
      expect(await take(log.read(stream, { partition: p, from: ends[p]! - 1 }), 10)).toHaveLength(
        1,
      );
      await expect(log.ends(fixture.streamName('missing-ends'))).rejects.toBeInstanceOf(
        StreamNotFoundError,
      );
    });

    it('tails with follow while a writer appends, and ends quietly on abort', async () => {
      const stream = fixture.streamName('follow');
      await log.ensureStreams([{ name: stream, partitions: 3 }]);
      const controller = new AbortController();
      const received: LogRecord[] = [];
      const reader = (async () => {
        for await (const record of log.read(stream, { follow: true, signal: controller.signal })) {
          received.push(record);
          if (received.length === 60) controller.abort();
        }
        return 'ended';
      })();
      for (let batch = 0; batch < 6; batch++) {
        await log.append(
          stream,
          Array.from({ length: 10 }, (_, i) => ({
            key: `k${i % 5}`,
            value: bytes(`${batch}:${i}`),
          })),
        );
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const timer = setTimeout(() => controller.abort(), 20_000);
      await expect(reader).resolves.toBe('ended');
      clearTimeout(timer);
      expect(received).toHaveLength(60);
      for (const key of ['k0', 'k1', 'k2', 'k3', 'k4']) {
        const values = received.filter((r) => r.key === key).map((r) => text(r.value));
        expect(values).toEqual([...values].sort());
      }
    });

    it('ends a follow read quietly when aborted while waiting, and when the loop breaks', async () => {
      const stream = fixture.streamName('abort');
      await log.ensureStreams([{ name: stream, partitions: 2 }]);
      await log.append(stream, [
        { key: 'a', value: bytes('1') },
        { key: 'b', value: bytes('2') },
      ]);
      const controller = new AbortController();
      const seen: LogRecord[] = [];
      const done = (async () => {
        for await (const r of log.read(stream, { follow: true, signal: controller.signal }))
          seen.push(r);
      })();
      await new Promise((resolve) => setTimeout(resolve, 500));
      controller.abort();
      await expect(done).resolves.toBeUndefined();
      expect(seen).toHaveLength(2);
      // Breaking out without aborting releases the read too.
      const broke = await take(log.read(stream, { follow: true }), 1);
      expect(broke).toHaveLength(1);
      // An already-aborted signal yields nothing and does not throw.
      const none = await take(log.read(stream, { signal: AbortSignal.abort() }), 10);
      expect(none).toEqual([]);
    });

    it('consumes from committed positions, which survive close and reopen', async () => {
      const stream = fixture.streamName('consume');
      const consumer = fixture.streamName('group');
      await log.ensureStreams([{ name: stream, partitions: 2 }]);
      const keys = ['x', 'y', 'z', 'w'];
      await log.append(
        stream,
        Array.from({ length: 20 }, (_, i) => ({ key: keys[i % 4]!, value: bytes(String(i)) })),
      );
      expect(await log.committed(consumer, stream)).toEqual({});
      const controller = new AbortController();
      const first = await take(
        log.consume(stream, { consumer, signal: controller.signal }),
        8,
        controller,
      );
      controller.abort();
      expect(first).toHaveLength(8);
      // Commit the position after the last record seen in each partition.
      const positions: Record<number, number> = {};
      for (const r of first)
        positions[r.partition] = Math.max(positions[r.partition] ?? 0, r.offset + 1);
      await log.commit(consumer, stream, positions);
      expect(await log.committed(consumer, stream)).toEqual(positions);
      const firstSeen = new Set(first.map((r) => text(r.value)));

      await log.close();
      log = await fixture.open();
      expect(await log.committed(consumer, stream)).toEqual(positions);
      const again = new AbortController();
      const rest = await take(log.consume(stream, { consumer, signal: again.signal }), 12, again);
      again.abort();
      expect(rest).toHaveLength(12);
      for (const r of rest) {
        expect(r.offset).toBeGreaterThanOrEqual(positions[r.partition] ?? 0);
        expect(firstSeen.has(text(r.value))).toBe(false);
      }
      const all = new Set([...firstSeen, ...rest.map((r) => text(r.value))]);
      expect(all.size).toBe(20);
    });

    it('commits while consuming, then resumes after the last commit', async () => {
      const stream = fixture.streamName('live-commit');
      const consumer = fixture.streamName('live-group');
      await log.ensureStreams([{ name: stream, partitions: 2 }]);
      await log.append(
        stream,
        Array.from({ length: 10 }, (_, i) => ({ key: `key-${i % 3}`, value: bytes(String(i)) })),
      );
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 20_000);
      const processed: LogRecord[] = [];
      const last: Record<number, number> = {};
      for await (const record of log.consume(stream, { consumer, signal: controller.signal })) {
        processed.push(record);
        last[record.partition] = record.offset + 1;
        await log.commit(consumer, stream, { [record.partition]: record.offset + 1 });
        if (processed.length === 6) controller.abort();
      }
      clearTimeout(timer);
      expect(processed).toHaveLength(6);
      expect(await log.committed(consumer, stream)).toEqual(last);

      await log.close();
      log = await fixture.open();
      const again = new AbortController();
      const rest = await take(log.consume(stream, { consumer, signal: again.signal }), 4, again);
      again.abort();
      expect(rest).toHaveLength(4);
      const seen = new Set(processed.map((r) => text(r.value)));
      for (const r of rest) {
        expect(seen.has(text(r.value))).toBe(false);
        expect(r.offset).toBeGreaterThanOrEqual(last[r.partition] ?? 0);
      }
    });

    it('keeps a consumer name apart per stream: one name consumes two streams at once', async () => {
      // (On Kafka a consumer group spans topics, and kafkajs's assigner gives out only the
      // partitions of the leader's topics: one group on two topics left one of them unread.)
      const [a, b] = [fixture.streamName('per-stream-a'), fixture.streamName('per-stream-b')];
      const consumer = fixture.streamName('per-stream-group');
      await log.ensureStreams([
        { name: a, partitions: 2 },
        { name: b, partitions: 2 },
      ]);
      const records = (tag: string): AppendRecord[] =>
        Array.from({ length: 6 }, (_, i) => ({ key: `k${i}`, value: bytes(`${tag}${i}`) }));
      await log.append(a, records('a'));
      await log.append(b, records('b'));
      await log.commit(consumer, a, { 0: 0 });
      expect(await log.committed(consumer, b)).toEqual({});
      const [ca, cb] = [new AbortController(), new AbortController()];
      const [fromA, fromB] = await Promise.all([
        take(log.consume(a, { consumer, signal: ca.signal }), 6, ca),
        take(log.consume(b, { consumer, signal: cb.signal }), 6, cb),
      ]);
      ca.abort();
      cb.abort();
      expect(fromA.map((r) => text(r.value)).sort()).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
      expect(fromB.map((r) => text(r.value)).sort()).toEqual(['b0', 'b1', 'b2', 'b3', 'b4', 'b5']);
    });

    it('dead-letters records that fail to decode and goes on', async () => {
      const stream = fixture.streamName('dlq-src');
      const deadLetterStream = fixture.streamName('dlq');
      await log.ensureStreams([
        { name: stream, partitions: 1 },
        { name: deadLetterStream, partitions: 1 },
      ]);
      const appended = await log.append(stream, [
        { key: 'a', value: bytes('{"n":1}') },
        { key: 'b', value: bytes('not json'), headers: { source: 'test' } },
        { key: 'c', value: bytes('{"n":3}') },
      ]);
      const decoded: Decoded<{ n: number }>[] = [];
      const events: unknown[] = [];
      for await (const item of decodeOrDeadLetter(log.read(stream), {
        log,
        deadLetterStream,
        decode: (r) => JSON.parse(text(r.value)) as { n: number },
        onDeadLetter: (event) => events.push(event),
      })) {
        decoded.push(item);
      }
      expect(decoded.map((d) => d.value.n)).toEqual([1, 3]);
      expect(events).toHaveLength(1);
      const letters = await take(log.read(deadLetterStream), 10);
      expect(letters).toHaveLength(1);
      const letter = letters[0]!;
      expect(text(letter.value)).toBe('not json');
      expect(letter.key).toBe('b');
      expect(letter.headers.source).toBe('test');
      const info = deadLetterInfo(letter);
      expect(info).toMatchObject({ stream, partition: 0, error: 'SyntaxError' });
      expect(info!.offset).toBe(appended[1]!.offset);
      expect(info!.reason.length).toBeGreaterThan(0);
    });

    it('closes idempotently and rejects calls after close', async () => {
      const extra = await fixture.open().catch(() => undefined);
      // Some backends (the file log) allow one writer: then reuse the shared one.
      const target = extra ?? log;
      const stream = fixture.streamName('close');
      await target.ensureStreams([{ name: stream, partitions: 1 }]);
      await target.append(stream, [{ key: 'k', value: bytes('v') }]);
      const closing = [target.close(), target.close()];
      await Promise.all(closing);
      await target.close();
      await target[Symbol.asyncDispose]();
      await expect(target.append(stream, [{ key: 'k', value: bytes('v') }])).rejects.toBeInstanceOf(
        LogClosedError,
      );
      if (target === log) log = await fixture.open();
      // Reopened, the record is still there.
      const records = await take(log.read(stream), 10);
      expect(records.map((r) => text(r.value))).toEqual(['v']);
    });
  });
}
