// Run by renewing.test.ts as `node --expose-gc churn-child.ts`: how much of the old space a
// long-lived map fills when entries go in and out of it, a plain Map against a RenewingMap.
// Prints one line of JSON: bytes of old space each left behind per entry inserted, for maps
// and for sets.
import { getHeapSpaceStatistics } from 'node:v8';
import { RenewingMap, RenewingSet } from '../../processors/renewing.ts';

const collect = (globalThis as { gc?: (o?: { type: 'minor' | 'major' }) => void }).gc!;
const oldSpace = (): number =>
  getHeapSpaceStatistics().find((s) => s.space_name === 'old_space')!.space_used_size;

interface Churned {
  put(i: number, value: object): void;
  drop(i: number): void;
}
const asMap = (m: Map<number, object> | RenewingMap<number, object>): Churned => ({
  put: (i, v) => void m.set(i, v),
  drop: (i) => void m.delete(i),
});
const asSet = (s: Set<object> | RenewingSet<object>): Churned => {
  const held: Array<object | undefined> = new Array(16); // the last values, to delete them again
  return {
    put: (i, v) => void s.add((held[i % 16] = v)),
    drop: (i) => {
      s.delete(held[i % 16]!);
      held[i % 16] = undefined;
    },
  };
};

const ENTRIES = 20_000;
function churn(map: Churned): number {
  // The map has lived through two young-generation collections: its table is in the old space.
  collect();
  collect({ type: 'minor' });
  collect({ type: 'minor' });
  const before = oldSpace();
  for (let i = 0; i < ENTRIES; i++) {
    map.put(i, { i, payload: new Array<number>(16).fill(i) });
    if (i >= 8) map.drop(i - 8); // eight entries at a time, as the engine's in-flight tables
    if (i % 200 === 199) collect({ type: 'minor' });
  }
  return (oldSpace() - before) / ENTRIES;
}

console.log(
  JSON.stringify({
    map: { plain: churn(asMap(new Map())), renewing: churn(asMap(new RenewingMap())) },
    set: { plain: churn(asSet(new Set())), renewing: churn(asSet(new RenewingSet())) },
  }),
);
