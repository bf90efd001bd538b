// The memo keeps entries packed (processors/engine/slabs.ts) and decodes them when asked for:
// what comes back must be the receipt that went in, whichever way it went in.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createMemo, type MemoEntry } from '../../processors/engine/memo.ts';
import { newReceiptEvent } from '../../processors/engine/receipts.ts';
import { SLAB_BYTES, Slabs } from '../../processors/engine/slabs.ts';
import { SpillFile } from '../../processors/engine/spill-file.ts';
import { decodeEvent, encodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import { dagCbor } from '../../schemas/codecs.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { chain } from '../conformance/engine.suite.ts';

const RSC = 'ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';

function receipt(i: number, out: ReceiptEvent['body']['out'] = ['ok', i + 1]): ReceiptEvent {
  const parsed = parseWorkflow(chain(RSC, 1, i));
  const t = parsed.tasks[0]!;
  return newReceiptEvent({
    instruction: t.instruction,
    invocation: t.invocation,
    workflow: parsed.cid,
    run: t.task.run,
    out,
    fuel: 7,
    durationMs: 0.5,
    executor: 'n',
    at: 1_700_000_000_000 + i,
  });
}

/** An entry as comparable text: every CID and the receipt's bytes. */
const text = (e: MemoEntry | undefined): string =>
  e === undefined
    ? 'missing'
    : [
        e.instruction.toString(),
        e.receipt.toString(),
        e.invocation.toString(),
        Buffer.from(dagCbor.encode(e.body)).toString('hex'),
      ].join(' ');

/** What the memo must give back for a receipt put in it, as {@link text}. */
const expected = (e: ReceiptEvent): string =>
  text({ instruction: e.instruction, receipt: e.receipt, invocation: e.invocation, body: e.body });

describe('the packed memo', () => {
  it('gives back every receipt put, long after it left the decoded cache', () => {
    const memo = createMemo();
    const events = Array.from({ length: 3000 }, (_, i) =>
      receipt(
        i,
        i % 7 === 0 ? ['error', { kind: 'trap', message: `t${i}`, retryable: false }] : undefined,
      ),
    );
    for (const e of events) expect(memo.put(e)).toBe(true);
    expect(memo.size).toBe(3000);
    for (const e of events) {
      const key = e.instruction.toString();
      expect(memo.has(key)).toBe(true);
      expect(text(memo.get(key))).toBe(expected(e));
    }
    // Packed: a few hundred bytes a receipt, not a decoded object graph.
    expect(memo.packedBytes / memo.size).toBeLessThan(400);
    expect([...memo.entries()].map(text)).toEqual(events.map((e) => expected(e)));
  });

  it('lists every entry in the order added, from spilled slabs too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipvm-memo-entries-'));
    const memo = createMemo({ spillDir: dir });
    const events = Array.from({ length: 9_000 }, (_, i) => receipt(i));
    for (const e of events) memo.put(e);
    memo.get(events[10]!.instruction.toString()); // (one kept decoded too)
    // (slabs of 256 KiB in the file, the rest in the one being filled: entries from both)
    await vi.waitFor(() => expect(memo.spilledBytes).toBeGreaterThan(0.9 * 2 ** 20), {
      timeout: 10_000,
    });
    expect([...memo.entries()].map(text)).toEqual(events.map((e) => expected(e)));
    memo.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('packs a receipt read from the log (no bytes at hand) and one known by its record', () => {
    const memo = createMemo();
    const read = decodeEvent(encodeEvent(receipt(1))) as ReceiptEvent;
    memo.put(read);
    const lazy = receipt(2);
    const bytes = encodeEvent(lazy);
    const routing = {
      instruction: lazy.instruction.toString(),
      workflow: lazy.workflow!.toString(),
      outcome: 'ok',
    };
    expect(memo.putLazy(routing, bytes)).toBe(true);
    bytes.fill(0); // the memo copied the record
    expect(memo.putLazy(routing, bytes)).toBe(false);
    for (let i = 3; i < 2100; i++) memo.put(receipt(i)); // both leave the decoded cache
    for (const e of [read, lazy])
      expect(text(memo.get(e.instruction.toString()))).toBe(expected(e));
    expect(memo.written(lazy.instruction.toString(), lazy.workflow!.toString())).toBe(true);
  });

  it('notes every workflow an instruction was written for, beside the first receipt', () => {
    const memo = createMemo();
    const events = Array.from({ length: 50 }, (_, i) => receipt(i));
    const key = (i: number): string => events[i]!.instruction.toString();
    const w = (n: number): string => `bafyworkflow${n}`;
    // Receipts of the same instructions written for other workflows (a re-run, a race), lazily
    // and decoded, interleaved with new instructions: only the first of each is memoized.
    for (const [i, e] of events.entries()) {
      expect(memo.put(e)).toBe(true);
      if (i % 2 === 1) {
        const again = { instruction: key(i - 1), workflow: w(i), outcome: 'ok' };
        expect(memo.putLazy(again, encodeEvent(events[i - 1]!))).toBe(false);
        expect(memo.put({ ...events[i - 1]!, workflow: null })).toBe(false);
      }
    }
    expect(memo.size).toBe(50);
    for (let i = 0; i < 50; i++) {
      expect(text(memo.get(key(i)))).toBe(expected(events[i]!));
      expect(memo.written(key(i), events[i]!.workflow!.toString())).toBe(true);
      expect(memo.written(key(i), w(i + 1))).toBe(i % 2 === 0);
      expect(memo.written(key(i), null)).toBe(i % 2 === 0);
      expect(memo.written(key(i), w(1000))).toBe(false);
    }
    expect(memo.written('bafynothere', null)).toBe(false);
    // A retryable failure settles nothing: tried, not written, until a settling receipt comes.
    const failed = receipt(60, ['error', { message: 'lost worker', retryable: true }]);
    const k = failed.instruction.toString();
    const wf = failed.workflow!.toString();
    expect(memo.put(failed)).toBe(false);
    expect([memo.has(k), memo.written(k, wf), memo.attempted(k, wf)]).toEqual([false, false, true]);
    expect(memo.put(receipt(60))).toBe(true);
    expect([memo.has(k), memo.written(k, wf), memo.attempted(k, wf)]).toEqual([true, true, false]);
  });

  it('keeps a bounded amount of large outputs decoded: the rest only packed', () => {
    const memo = createMemo();
    // 200 receipts with 64 KiB outputs (an image each): 12.5 MiB packed.
    const events = Array.from({ length: 200 }, (_, i) =>
      receipt(i, ['ok', new Uint8Array(65_536).fill(i)]),
    );
    for (const e of events) memo.put(e);
    const keys = events.map((e) => e.instruction.toString());
    const read = keys.map((k) => memo.get(k)!);
    // The last read is kept decoded: read again, it is the same object.
    expect(memo.get(keys[199]!)).toBe(read[199]);
    // The first read was let go (4–8 MiB of packed bytes at most): decoded again from its bytes.
    const again = memo.get(keys[0]!)!;
    expect(again).not.toBe(read[0]);
    expect(text(again)).toBe(expected(events[0]!));
  });

  it('does not keep a receipt decoded when it is put, only when it is read', () => {
    const memo = createMemo();
    const e = receipt(1);
    memo.put(e);
    const got = memo.get(e.instruction.toString())!;
    // Decoded from its packed bytes (the object put is the caller's to drop)…
    expect(got.body).not.toBe(e.body);
    expect(text(got)).toBe(expected(e));
    // …and kept decoded once read.
    expect(memo.get(e.instruction.toString())).toBe(got);
  });
});

/** Waits until the slabs' writes to their spill file are done (nothing is awaited on them). */
async function settled(slabs: { residentBytes: number }, atMost: number): Promise<void> {
  await vi.waitFor(() => expect(slabs.residentBytes).toBeLessThanOrEqual(atMost), {
    timeout: 10_000,
  });
}

describe('Slabs', () => {
  it('keeps byte strings of any size, across slab boundaries and in buffers of their own', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipvm-slabs-'));
    const slabs = new Slabs();
    const spilled = new Slabs({ spillDir: dir });
    // Around a slab's size S: entries that share one, cross into the next, fill a quarter of it
    // to the byte (with their 4-byte length) or pass it (a buffer of their own), and 2 S.
    const S = SLAB_BYTES;
    const q = S / 4;
    const sizes = [0, 1, 5, 300, S / 16, q + S / 32, 1, q - S / 16, 2 * S, 17, q - 4, q - 3];
    const kept: Array<[number, Uint8Array]> = [];
    for (let round = 0; round < 8; round++) {
      for (const [i, n] of sizes.entries()) {
        const bytes = new Uint8Array(n);
        for (let k = 0; k < n; k += 997) bytes[k] = (round * 31 + i + k) & 0xff;
        if (n > 0) bytes[n - 1] = (round + i) & 0xff;
        const half = Math.floor(n / 2);
        const parts = [bytes.subarray(0, half), bytes.subarray(half)];
        const handle = slabs.add(parts);
        expect(spilled.add(parts)).toBe(handle);
        kept.push([handle, bytes]);
        // Readable at once, also while its slab is on its way to the file.
        expect(Buffer.from(spilled.get(handle)).equals(bytes)).toBe(true);
      }
    }
    for (const [handle, bytes] of kept)
      expect(Buffer.from(slabs.get(handle)).equals(bytes)).toBe(true);
    const total = kept.reduce((n, [, b]) => n + b.length + 4, 0);
    expect(slabs.bytes).toBe(total);
    // With a spill directory only the slab being filled stays in memory; the rest is read back
    // from the file, which no one else can see (unlinked at once).
    expect(spilled.bytes).toBe(total);
    await settled(spilled, 1 << 20);
    expect(slabs.residentBytes).toBeGreaterThan(total);
    for (const [handle, bytes] of kept) {
      expect(Buffer.from(spilled.get(handle)).equals(bytes)).toBe(true);
      expect(spilled.lengthOf(handle)).toBe(bytes.length);
    }
    // A pass over many entries (a compaction) reads each spilled slab once, in any given order.
    const shuffled = kept.map((_, i) => kept[(i * 7919) % kept.length]!);
    const seen = new Set<number>();
    for (const s of [slabs, spilled])
      s.forEach(
        shuffled.map(([h]) => h),
        (i, bytes) => {
          expect(Buffer.from(bytes).equals(shuffled[i]![1])).toBe(true);
          seen.add(i);
        },
      );
    expect(seen.size).toBe(shuffled.length);
    // Read in any order given; in the order added, each spilled slab is read once, not twice
    // per entry as get() does.
    for (const s of [slabs, spilled]) {
      let k = 0;
      for (const bytes of s.read(shuffled.map(([h]) => h)))
        expect(Buffer.from(bytes).equals(shuffled[k++]![1])).toBe(true);
      expect(k).toBe(shuffled.length);
    }
    const reads = vi.spyOn(SpillFile.prototype, 'read');
    for (const [handle] of kept) spilled.get(handle);
    const byGet = reads.mock.calls.length;
    reads.mockClear();
    let k = 0;
    for (const bytes of spilled.read(kept.map(([h]) => h)))
      expect(Buffer.from(bytes).equals(kept[k++]![1])).toBe(true);
    expect(reads.mock.calls.length).toBeGreaterThan(0);
    expect(reads.mock.calls.length * 2).toBeLessThan(byGet);
    reads.mockRestore();
    expect(readdirSync(dir)).toEqual([]);
    spilled.close();
    expect(() => spilled.get(kept[0]![0])).toThrow(/closed/);
    rmSync(dir, { recursive: true });
  });

  it('keeps every slab in memory when its spill directory cannot be written', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'ipvm-slabs-')), 'a-file');
    writeFileSync(file, '');
    const slabs = new Slabs({ spillDir: file }); // a file, not a directory
    const handles = Array.from({ length: 5000 }, (_, i) =>
      slabs.add([new Uint8Array(600).fill(i)]),
    );
    expect(slabs.residentBytes).toBeGreaterThan(2 << 20);
    for (const [i, h] of handles.entries())
      expect(slabs.get(h)).toEqual(new Uint8Array(600).fill(i));
  });
});

describe('the memo with a spill directory', () => {
  it('holds one slab in memory and reads older receipts back from the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipvm-memo-spill-'));
    const memo = createMemo({ spillDir: dir });
    // 40 receipts with 64 KiB outputs, then 8 000 small ones put as read from the log: ~4.5 MiB.
    const large = Array.from({ length: 40 }, (_, i) =>
      receipt(i, ['ok', new Uint8Array(65_536).fill(i)]),
    );
    for (const e of large) memo.put(e);
    const small = Array.from({ length: 8000 }, (_, i) => receipt(100 + i));
    for (const e of small)
      memo.putLazy(
        {
          instruction: e.instruction.toString(),
          workflow: e.workflow!.toString(),
          outcome: 'ok',
        },
        encodeEvent(e),
      );
    expect(memo.packedBytes).toBeGreaterThan(4 << 20);
    await settled(memo, 1 << 20);
    for (const e of [...large, ...small])
      expect(text(memo.get(e.instruction.toString()))).toBe(expected(e));
    memo.close();
    rmSync(dir, { recursive: true });
  });
});
