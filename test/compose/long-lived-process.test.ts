// processors/compose/long-lived-process.ts: what a long-lived node's process adds to how it was
// started, what V8 then does with its young generation, and the re-execution in place. V8's
// flags are per process, so what V8 does is seen in Node processes of their own.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../processors/compose/config.ts';
import {
  longLivedAdditions,
  semiSpaceMib,
  youngGenerationMib,
} from '../../processors/compose/long-lived-process.ts';
import { runProbe } from '../harness/probe.ts';

const LONG_LIVED = new URL('../../processors/compose/long-lived-process.ts', import.meta.url).href;

const bare = { execArgv: [], env: {} };

describe('longLivedAdditions', () => {
  it('adds two semi-spaces of half the young generation, and shared malloc arenas', () => {
    expect(longLivedAdditions(16, bare)).toEqual({
      execArgv: ['--max-semi-space-size=8'],
      env: { MALLOC_ARENA_MAX: '2' },
    });
    expect(longLivedAdditions(2, bare).execArgv).toEqual(['--max-semi-space-size=1']);
    // V8's own young generation: no flag.
    expect(longLivedAdditions(0, bare).execArgv).toEqual([]);
  });

  it('keeps what the process was started with: Node flags, NODE_OPTIONS, the arenas', () => {
    for (const execArgv of [
      ['--max-semi-space-size=4'],
      ['--max_semi_space_size', '4'],
      ['--inspect', '--max-semi-space-size=4'],
    ]) {
      const started = { execArgv, env: {} };
      expect(longLivedAdditions(16, started).execArgv, execArgv.join(' ')).toEqual([]);
      expect(semiSpaceMib(started)).toBe(4);
      expect(youngGenerationMib(started)).toBe(8);
    }
    const fromEnv = {
      execArgv: [],
      env: { NODE_OPTIONS: '--no-warnings --max-semi-space-size=2' },
    };
    expect(longLivedAdditions(16, fromEnv).execArgv).toEqual([]);
    expect(youngGenerationMib(fromEnv)).toBe(4);
    expect(longLivedAdditions(16, { execArgv: [], env: { MALLOC_ARENA_MAX: '8' } }).env).toEqual(
      {},
    );
    expect(youngGenerationMib(bare)).toBe(0);
  });

  it('refuses a young generation it cannot mean, naming the flag and the value', () => {
    for (const bad of [1, 3, 258, -2, 1.5, Number.NaN])
      expect(() => longLivedAdditions(bad, bare), String(bad)).toThrow(
        new ConfigError(
          `--young-generation must be an even number of MiB from 2 to 256 (two equal semi-spaces), or 0 for V8's own choice (got ${bad})`,
        ),
      );
  });
});

// Allocates for a while with a few MiB surviving each scavenge, as a busy node does, and prints
// the largest young generation it saw, in MiB.
const busy = `
import { getHeapSpaceStatistics } from 'node:v8';
const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
const kept = new Array(60_000);
let max = 0;
for (let round = 0; round < 60; round++) {
  for (let i = 0; i < 60_000; i++) kept[i] = { i, round, s: 'x' + i };
  max = Math.max(max, young());
}
console.log(max / 2 ** 20);
`;

describe('what V8 does with it', () => {
  it('keeps the young generation within the size given, which V8 alone doubles past', async () => {
    const largest = async (nodeArgs: string[]): Promise<number> =>
      Number((await runProbe(busy, { nodeArgs })).trim());
    // Without the flag the probe's young generation grows past 16 MiB (V8 goes up to 32).
    expect(await largest([])).toBeGreaterThan(16);
    expect(await largest(longLivedAdditions(16, bare).execArgv)).toBeLessThanOrEqual(16);
    expect(await largest(longLivedAdditions(4, bare).execArgv)).toBeLessThanOrEqual(4);
  }, 60_000);
});

// Prints a line on each start, then re-executes itself as `ipvm start` does.
const reexecuting = `
const { becomeLongLived } = await import(${JSON.stringify(LONG_LIVED)});
console.log('start ' + process.pid + ' ' + process.argv.slice(2).join(','));
const outcome = becomeLongLived(12);
console.log(JSON.stringify({
  outcome,
  pid: process.pid,
  execArgv: process.execArgv,
  arenas: process.env.MALLOC_ARENA_MAX,
  args: process.argv.slice(2),
}));
`;

describe('becomeLongLived', () => {
  it('re-executes the process in place: same pid and arguments, the additions given, once', async () => {
    const env = { ...process.env };
    delete env.MALLOC_ARENA_MAX;
    const out = (await runProbe(reexecuting, { args: ['a', 'b c'], env })).trim().split('\n');
    expect(out).toHaveLength(3);
    const [first, second, last] = out as [string, string, string];
    // The script ran twice in one process: before and after the re-execution.
    expect(second).toBe(first);
    expect(first).toMatch(/^start \d+ a,b c$/);
    const after = JSON.parse(last) as {
      outcome: string;
      pid: number;
      execArgv: string[];
      arenas: string;
      args: string[];
    };
    expect(`start ${after.pid} a,b c`).toBe(first);
    expect(after).toMatchObject({ outcome: 'as-started', arenas: '2', args: ['a', 'b c'] });
    expect(after.execArgv).toContain('--max-semi-space-size=6');
  }, 60_000);
});
