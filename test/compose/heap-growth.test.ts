// processors/compose/heap-growth.ts: the growth a process sets is the factor V8 applies at its
// next full collection. V8's flags are per process, so each case runs in a Node process of its
// own, which prints what V8 reports after a forced full collection (`--trace-gc-verbose`: the
// factor it would pick itself, "factor F based on mu=…", then the one it applies, "Limit: old
// size: … KB, new limit: … KB (F)").
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../processors/compose/config.ts';
import { limitHeapGrowth } from '../../processors/compose/heap-growth.ts';
import { runProbe } from '../harness/probe.ts';

const HEAP_GROWTH = new URL('../../processors/compose/heap-growth.ts', import.meta.url).href;

const script = `
import { setFlagsFromString } from 'node:v8';
const { limitHeapGrowth } = await import(${JSON.stringify(HEAP_GROWTH)});
const keep = [];
for (let i = 0; i < 200_000; i++) keep.push({ i, s: 'x' + i });
setFlagsFromString('--trace-gc-verbose');
for (const percent of process.argv.slice(2).map(Number)) {
  limitHeapGrowth(percent);
  console.log('set ' + percent);
  globalThis.gc();
}
console.log(keep.length);
`;

/** A full collection's factors: the one V8 would pick itself, and the one it applied. */
interface Factors {
  own: number;
  applied: number;
}

/** The factors V8 reported at the full collection after each `set P`, in order. */
async function factors(percents: number[]): Promise<Array<{ percent: number } & Factors>> {
  const stdout = await runProbe(script, {
    nodeArgs: ['--expose-gc'],
    args: percents.map(String),
  });
  const out: Array<{ percent: number } & Factors> = [];
  let percent: number | undefined;
  let own: number | undefined;
  for (const line of stdout.split('\n')) {
    const set = /^set (\d+)$/.exec(line);
    if (set !== null) [percent, own] = [Number(set[1]), undefined];
    const picked = /\[HeapController\] factor ([\d.]+) based on/.exec(line);
    if (picked !== null) own = Number(picked[1]);
    const limit = /\[HeapController\] Limit: .*\(([\d.]+)\)$/.exec(line);
    if (limit !== null && percent !== undefined && own !== undefined)
      out.push({ percent, own, applied: Number(limit[1]) });
  }
  return out;
}

describe('limitHeapGrowth', () => {
  it('sets the factor of the next full collection’s limit: 1 + percent / 100', async () => {
    const seen = await factors([50, 250, 100]);
    expect(seen.map((s) => [s.percent, s.applied])).toEqual([
      [50, 1.5],
      [250, 3.5],
      [100, 2],
    ]);
  }, 60_000);

  it('gives the choice back to V8 with 0: the factor applied is the one V8 picks', async () => {
    const seen = await factors([50, 0, 0]);
    expect(seen.map((s) => s.percent)).toEqual([50, 0, 0]);
    const [fixed, ...own] = seen;
    // This probe allocates fast: V8 picks more than 1.5, so a growth left at 50 would show.
    expect(fixed!.own).toBeGreaterThan(1.5);
    expect(fixed!.applied).toBe(1.5);
    for (const s of own) expect(s.applied).toBe(s.own);
  }, 60_000);

  it('refuses a growth it cannot mean, naming the flag and the value', () => {
    for (const bad of [-1, 5, 1001, 1.5, Number.NaN])
      expect(() => limitHeapGrowth(bad), String(bad)).toThrow(
        new ConfigError(
          `--heap-growth must be a whole percent from 10 to 1000, or 0 for V8's own choice (got ${bad})`,
        ),
      );
  });
});
