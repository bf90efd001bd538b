import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { RENEW_UP_TO, RenewingMap, RenewingSet } from '../../processors/renewing.ts';
import { seededRandom } from '../harness/random.ts';

const exec = promisify(execFile);

describe('RenewingMap and RenewingSet', () => {
  it('behave as a Map and a Set through many renewals (seeded)', () => {
    const seed = Number(process.env.IPVM_FUZZ_SEED ?? Date.now() % 1_000_000);
    console.log(`renewing.test seed ${seed} (IPVM_FUZZ_SEED=${seed} to repeat)`);
    const next = seededRandom(seed);
    const map = new RenewingMap<string, number>([['a', 1]]);
    const mapRef = new Map<string, number>([['a', 1]]);
    const set = new RenewingSet<string>(['a']);
    const setRef = new Set<string>(['a']);
    // Sizes from a handful to past RENEW_UP_TO (where renewing stops), keys reused often.
    for (let i = 0; i < 60_000; i++) {
      const span = i < 40_000 ? 64 : RENEW_UP_TO * 2;
      const key = `k${Math.floor(next() * span)}`;
      const op = next();
      if (op < 0.5) {
        map.set(key, i);
        mapRef.set(key, i);
        set.add(key);
        setRef.add(key);
      } else if (op < 0.95) {
        expect(map.delete(key)).toBe(mapRef.delete(key));
        expect(set.delete(key)).toBe(setRef.delete(key));
      } else {
        expect(map.get(key)).toBe(mapRef.get(key));
        expect(map.has(key)).toBe(mapRef.has(key));
        expect(set.has(key)).toBe(setRef.has(key));
      }
      expect(map.size).toBe(mapRef.size);
      expect(set.size).toBe(setRef.size);
      if (i % 5_000 === 0) {
        expect([...map]).toEqual([...mapRef]); // insertion order kept across renewals
        expect([...map.keys()]).toEqual([...mapRef.keys()]);
        expect([...map.values()]).toEqual([...mapRef.values()]);
        expect([...map.entries()]).toEqual([...mapRef.entries()]);
        expect([...set]).toEqual([...setRef]);
        expect([...set.values()]).toEqual([...setRef.values()]);
      }
    }
    map.clear();
    set.clear();
    expect([map.size, set.size, [...map], [...set]]).toEqual([0, 0, [], []]);
  });

  it('visits every entry once when entries are deleted while iterating', () => {
    const map = new RenewingMap<number, number>();
    for (let i = 0; i < 500; i++) {
      map.set(i, i);
      if (i >= 10) map.delete(i - 10); // many renewals meanwhile
    }
    const seen: number[] = [];
    for (const [k] of map) {
      seen.push(k);
      map.delete(k);
    }
    expect(seen).toEqual([490, 491, 492, 493, 494, 495, 496, 497, 498, 499]);
    expect(map.size).toBe(0);
  });

  it('leave nothing of the entries that went through them in the old space, as a Map does', async () => {
    // In a child with the collector exposed: 20 000 entries through a map that holds eight at a
    // time, its table old (churn-child.ts).
    const child = fileURLToPath(new URL('churn-child.ts', import.meta.url));
    const { stdout } = await exec(process.execPath, ['--expose-gc', child]);
    const perEntry = JSON.parse(stdout) as Record<
      'map' | 'set',
      Record<'plain' | 'renewing', number>
    >;
    for (const kind of ['map', 'set'] as const) {
      // V8's own collections keep every entry present at a rehash until a full collection
      // (the reason for these classes; if a Node upgrade stops that, this says so).
      expect(perEntry[kind].plain).toBeGreaterThan(100);
      expect(perEntry[kind].renewing).toBeLessThan(10);
    }
  });
});
