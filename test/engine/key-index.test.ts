import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';
import * as raw from 'multiformats/codecs/raw';
import { KeyIndex, NumberColumn } from '../../processors/engine/key-index.ts';
import { seededRandom } from '../harness/random.ts';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function spillDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipvm-keys-'));
  dirs.push(dir);
  return dir;
}

/** Until the chunks being written to the spill file are there. */
async function written(index: KeyIndex): Promise<void> {
  while (index.writing > 0) await new Promise((r) => setImmediate(r));
}

async function cidOf(n: number): Promise<string> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`k${n}`))).toString();
}

describe('KeyIndex', () => {
  it.each([
    ['in memory', false],
    ['with a spill directory', true],
  ])(
    'numbers keys as a Map would, through rehashes, for every form of key (seeded, %s)',
    async (_, spill) => {
      const seed = Number(process.env.IPVM_FUZZ_SEED ?? Date.now() % 1_000_000);
      console.log(`key-index.test seed ${seed} (IPVM_FUZZ_SEED=${seed} to repeat)`);
      const next = seededRandom(seed);
      const cids = await Promise.all(Array.from({ length: 2_000 }, (_, i) => cidOf(i)));
      const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
      const keyOf = (): string => {
        const r = next();
        const n = Math.floor(next() * 1_000_000);
        if (r < 0.5) return cids[n % cids.length]!; // a real CID, packed as base32
        if (r < 0.7) {
          // base32-shaped strings of every length (some, short, differ only in the last character)
          let s = 'b';
          const len = n % 70;
          for (let i = 0; i < len; i++) s += alphabet[Math.floor(next() * (len < 4 ? 2 : 32))];
          return s;
        }
        if (r < 0.8) return `B${n}`; // not multibase base32 (upper case B): kept raw
        if (r < 0.88) return `bafy-${n}`; // a '-' is not base32: kept raw
        if (r < 0.94) return `wf ${n} ✓ ${'é'.repeat(n % 5)}`; // not ASCII: UTF-8
        return ['', 'b', 'ba', `${n}`][n % 4]!; // (the empty key too: the cache of recent keys starts empty)
      };
      const index = new KeyIndex(spill ? { spillDir: spillDir() } : {});
      const ref = new Map<string, number>();
      for (let i = 0; i < 80_000; i++) {
        // (chunks are written to the spill file between turns of the event loop)
        if (i % 4_000 === 0) await written(index);
        const key = keyOf();
        if (next() < 0.6) {
          const id = index.add(key);
          if (!ref.has(key)) ref.set(key, ref.size);
          expect(id, key).toBe(ref.get(key));
        } else {
          expect(index.id(key), key).toBe(ref.get(key) ?? -1);
        }
        expect(index.size).toBe(ref.size);
      }
      await written(index);
      // Every key reads back as it was added, by its number, and is found by its bytes.
      for (const [key, id] of ref) {
        expect(index.key(id)).toBe(key);
        expect(index.id(key)).toBe(id);
      }
      expect(index.size).toBeGreaterThan(16_384); // past the first rehash (12 288) and the first page (8 192)
      if (spill)
        expect(index.spilledBytes).toBeGreaterThanOrEqual(64 * 1024); // (at least one chunk)
      else expect(index.spilledBytes).toBe(0);
      index.close();
    },
  );

  it('answers a key asked for before it was added by its number once added', () => {
    const index = new KeyIndex();
    expect(index.id('bafyA')).toBe(-1);
    expect(index.id('bafyA')).toBe(-1); // (from the recent keys)
    expect(index.add('bafyB')).toBe(0);
    expect(index.add('bafyA')).toBe(1);
    expect(index.id('bafyA')).toBe(1);
    for (const k of ['c', 'd', 'e', 'f', 'g']) index.id(k); // past the four recent keys
    expect(index.id('bafyA')).toBe(1);
    expect(index.id('bafyB')).toBe(0);
  });

  it('keeps a key longer than a quarter chunk in a chunk of its own, and refuses one past 1 MiB', () => {
    const index = new KeyIndex();
    const a = index.add('short');
    const long = 'x'.repeat(600_000);
    const b = index.add(long);
    const c = index.add('after');
    expect([index.id('short'), index.id(long), index.id('after')]).toEqual([a, b, c]);
    expect(index.key(b)).toBe(long);
    expect(() => index.add('y'.repeat(1_100_000))).toThrow(
      /key "yyyy.*" is 1100000 bytes: longer than a key may be/,
    );
    expect(() => index.key(3)).toThrow(RangeError);
    expect(index.size).toBe(3);
  });

  it('holds a CID in about 80 B off the heap, or under 32 B with its bytes in a spill file', async () => {
    const cids = await Promise.all(Array.from({ length: 50_000 }, (_, i) => cidOf(i)));
    const index = new KeyIndex();
    for (const cid of cids) index.add(cid);
    // 59-character CIDs: 60 bytes + 4 of length + 4 of hash + 4 of place + ~10 of slots.
    expect(index.bytes / index.size).toBeLessThan(100);
    expect(index.bytes / index.size).toBeGreaterThan(72);

    const spilled = new KeyIndex({ spillDir: spillDir() });
    for (const [i, cid] of cids.entries()) {
      spilled.add(cid);
      if (i % 1_000 === 0) await written(spilled);
    }
    await written(spilled);
    // Two chunks of 64 KiB stay in memory (the open one and the one before it).
    expect(spilled.bytes / spilled.size).toBeLessThan(32);
    expect(spilled.spilledBytes).toBeGreaterThan(2 * 1024 * 1024);
    expect(spilled.id(cids[0]!)).toBe(0);
    expect(spilled.key(1)).toBe(cids[1]);
    spilled.close();
  });

  it('tells a key it does not hold by its hash, without reading the spill file', async () => {
    const cids = await Promise.all(Array.from({ length: 20_000 }, (_, i) => cidOf(i)));
    const index = new KeyIndex({ spillDir: spillDir() });
    for (const [i, cid] of cids.entries()) {
      index.add(cid);
      if (i % 1_000 === 0) await written(index);
    }
    await written(index);
    expect(index.spilledBytes).toBeGreaterThan(0);
    index.close(); // a read from the spill file now throws
    for (let i = 20_000; i < 21_000; i++) expect(index.id(await cidOf(i))).toBe(-1);
    expect(() => index.id(cids[0]!)).toThrow(/closed/); // (spilled: its bytes cannot be compared)
    expect(index.id(cids.at(-1)!)).toBe(cids.length - 1); // (in memory still)
  });

  it('keeps every chunk in memory when its spill directory cannot be written', async () => {
    const file = join(spillDir(), 'a-file');
    writeFileSync(file, '');
    const index = new KeyIndex({ spillDir: file }); // a file, not a directory
    const cids = await Promise.all(Array.from({ length: 20_000 }, (_, i) => cidOf(i)));
    for (const cid of cids) index.add(cid);
    await written(index);
    expect(index.spilledBytes).toBe(0);
    for (const [i, cid] of cids.entries()) expect(index.id(cid)).toBe(i);
  });
});

describe('NumberColumn', () => {
  it('gives NaN for unset numbers and keeps set ones across pages', () => {
    const col = new NumberColumn();
    expect(col.get(0)).toBeNaN();
    expect(col.get(-1)).toBeNaN();
    col.set(5, 1.5);
    col.set(100_000, 2 ** 40);
    expect(col.get(5)).toBe(1.5);
    expect(col.get(100_000)).toBe(2 ** 40);
    expect(col.get(99_999)).toBeNaN();
    col.set(5, Number.NaN);
    expect(col.get(5)).toBeNaN();
  });
});
