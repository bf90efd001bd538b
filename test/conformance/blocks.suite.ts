// Large values stored once (processors/blocks), run against every backend:
//   describeBlocks('file', async () => fixture)
// The wrapped log must give back byte for byte what was appended, while the backend holds each
// large value once, on the blocks stream, in records no larger than the chunk size.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppendRecord, Log, LogRecord } from '../../streams/log.ts';
import { forwardLog } from '../../streams/forward.ts';
import {
  BLOCKS_ERROR_HEADER,
  BLOCKS_HEADER,
  withBlocks,
} from '../../processors/blocks/blocks-log.ts';
import { dagCbor } from '../../schemas/codecs.ts';
import type { LogFixture } from './log.suite.ts';

async function all(log: Log, stream: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const r of log.read(stream)) out.push(r);
  return out;
}

/** An envelope with two large strings, large bytes and small fields; unique per call. */
function envelope(tag: string, size: number): Uint8Array {
  const big = `${tag}:`.padEnd(size, 'x');
  return dagCbor.encode({
    v: 1,
    type: 'test',
    tag,
    body: { tasks: [{ args: [big, 7, { deep: [randomBytes(size)] }] }] },
    again: big,
    small: 'small',
  });
}

export function describeBlocks(name: string, makeFixture: () => Promise<LogFixture>): void {
  describe(`Large values stored once: ${name}`, () => {
    let fixture: LogFixture;
    let raw: Log;

    beforeAll(async () => {
      fixture = await makeFixture();
      raw = await fixture.open();
    });
    afterAll(async () => {
      await raw?.close();
      await fixture?.cleanup?.();
    });

    async function streams(hint: string): Promise<{ data: string; blocks: string }> {
      const data = fixture.streamName(`${hint}.data`);
      const blocks = fixture.streamName(`${hint}.blocks`);
      await raw.ensureStreams([
        { name: data, partitions: 2 },
        { name: blocks, partitions: 2 },
      ]);
      return { data, blocks };
    }

    it('reads back byte for byte what was appended, each large value held once', async () => {
      const { data, blocks } = await streams('roundtrip');
      const log = withBlocks(raw, { stream: blocks, threshold: 1024, chunkBytes: 4096 });
      const records: AppendRecord[] = [
        { key: 'a', value: envelope('a', 10_000), headers: { 'ipvm-type': 'test', h: '1' } },
        { key: 'b', value: dagCbor.encode({ v: 1, small: 'x'.repeat(100) }) },
        { key: 'c', value: Uint8Array.of(0xff, 0x00, 0x13) }, // not DAG-CBOR: stored as is
      ];
      await log.append(data, records);
      const back = await all(log, data);
      back.sort((x, y) => x.key.localeCompare(y.key));
      expect(back.map((r) => Buffer.from(r.value))).toEqual(
        records.map((r) => Buffer.from(r.value)),
      );
      expect(back[0]!.headers).toEqual({ 'ipvm-type': 'test', h: '1' });
      expect(back[1]!.headers).toEqual({});

      // Underneath: the large record is small, and its three values (one repeated) are two
      // blocks of 3 chunks each (10 000 bytes and a few of CBOR header, in 4 096-byte records).
      const stored = (await all(raw, data)).find((r) => r.key === 'a')!;
      expect(stored.value.byteLength).toBeLessThan(1024);
      expect(stored.headers[BLOCKS_HEADER]).toBe('3');
      const chunks = await all(raw, blocks);
      expect(chunks).toHaveLength(6);
      expect(new Set(chunks.map((c) => c.key)).size).toBe(2);
      expect(Math.max(...chunks.map((c) => c.value.byteLength))).toBeLessThanOrEqual(4096);
    });

    it('does not write a block again: later records, concurrent appends, another process', async () => {
      const { data, blocks } = await streams('once');
      const log = withBlocks(raw, { stream: blocks, threshold: 1024 });
      const value = envelope('once', 5_000);
      await Promise.all([
        log.append(data, [{ key: 'k1', value }]),
        log.append(data, [{ key: 'k2', value }]),
      ]);
      await log.append(data, [{ key: 'k3', value }]);
      expect(await all(raw, blocks)).toHaveLength(2);

      // A second process learns where the blocks are from the records it reads.
      const other = withBlocks(raw, { stream: blocks, threshold: 1024 });
      const read = await all(other, data);
      expect(read).toHaveLength(3);
      for (const r of read) expect(Buffer.from(r.value)).toEqual(Buffer.from(value));
      await other.append(data, [{ key: 'k4', value }]);
      expect(await all(raw, blocks)).toHaveLength(2);
      expect(await all(raw, data)).toHaveLength(4);
    });

    it('reads back the values it wrote from memory, without reading the blocks stream', async () => {
      const { data, blocks } = await streams('written');
      let blockReads = 0;
      const counting = forwardLog(raw, {
        read: (stream, options) => {
          if (stream === blocks) blockReads++;
          return raw.read(stream, options);
        },
      });
      const value = envelope('written', 3_000);
      const writer = withBlocks(counting, { stream: blocks, threshold: 1024 });
      await writer.append(data, [{ key: 'w', value }]);
      // The wrapper that wrote the record's values reads them back from memory...
      const [back] = await all(writer, data);
      expect(Buffer.from(back!.value)).toEqual(Buffer.from(value));
      expect(blockReads).toBe(0);
      // ...while one that wrote nothing reads them from the blocks stream.
      const [again] = await all(withBlocks(counting, { stream: blocks, threshold: 1024 }), data);
      expect(Buffer.from(again!.value)).toEqual(Buffer.from(value));
      expect(blockReads).toBeGreaterThan(0);
    });

    it('stores a value larger than the backend takes in one record (default chunks)', async () => {
      const { data, blocks } = await streams('huge');
      const log = withBlocks(raw, { stream: blocks });
      const value = dagCbor.encode({ v: 1, arg: randomBytes(1536 * 1024) });
      await log.append(data, [{ key: 'huge', value }]);
      const [back] = await all(log, data);
      expect(Buffer.from(back!.value).equals(Buffer.from(value))).toBe(true);
      const chunks = await all(raw, blocks);
      expect(chunks).toHaveLength(4); // 1.5 MiB and a CBOR header, 512 KiB a record
    });

    it('reports a link it cannot read back, and is not misled by it', async () => {
      const { data, blocks } = await streams('forged');
      const value = envelope('forged', 3_000);
      await withBlocks(raw, { stream: blocks, threshold: 1024 }).append(data, [
        { key: 'real', value },
      ]);
      const [stored] = await all(raw, data);
      // The same links, pointing past the end of the blocks stream.
      const forged = dagCbor.decode(stored!.value) as Record<string, unknown>;
      const refs = forged['ipvm:blocks'] as Array<{ offsets: number[] }>;
      for (const ref of refs) ref.offsets = ref.offsets.map((o) => o + 1_000_000);
      await raw.append(data, [
        { key: 'forged', value: dagCbor.encode(forged), headers: stored!.headers },
      ]);

      // (No cache: the real record, read first, would answer the forged one by CID.)
      const fresh = withBlocks(raw, { stream: blocks, threshold: 1024, cacheBytes: 0 });
      const bad = (await all(fresh, data)).find((r) => r.key === 'forged')!;
      expect(bad.headers[BLOCKS_ERROR_HEADER]).toMatch(
        new RegExp(`^${data}/${bad.partition}@${bad.offset}: block \\w+ is not in the log`),
      );
      expect(Buffer.from(bad.value).equals(Buffer.from(dagCbor.encode(forged)))).toBe(true);
      // A later append of the value links the blocks where they are.
      const another = withBlocks(raw, { stream: blocks, threshold: 1024 });
      for await (const r of another.read(data, { partition: bad.partition, from: bad.offset }))
        expect(r.headers[BLOCKS_ERROR_HEADER]).toBeDefined();
      await another.append(data, [{ key: 'again', value }]);
      const again = (await all(withBlocks(raw, { stream: blocks }), data)).find(
        (r) => r.key === 'again',
      )!;
      expect(again.headers[BLOCKS_ERROR_HEADER]).toBeUndefined();
      expect(Buffer.from(again.value).equals(Buffer.from(value))).toBe(true);
    });

    it('reads large values back while following and as a named consumer', async () => {
      const { data, blocks } = await streams('follow');
      const log = withBlocks(raw, { stream: blocks, threshold: 1024 });
      const value = envelope('follow', 4_000);
      const controller = new AbortController();
      const seen: LogRecord[] = [];
      const following = (async () => {
        for await (const r of log.read(data, { follow: true, signal: controller.signal })) {
          seen.push(r);
          controller.abort();
        }
      })();
      await log.append(data, [{ key: 'f', value }]);
      await following;
      expect(Buffer.from(seen[0]!.value)).toEqual(Buffer.from(value));

      const consumer = new AbortController();
      for await (const r of log.consume(data, {
        consumer: fixture.streamName('follow-consumer'),
        signal: consumer.signal,
      })) {
        expect(Buffer.from(r.value)).toEqual(Buffer.from(value));
        consumer.abort();
      }
    });
  });
}
