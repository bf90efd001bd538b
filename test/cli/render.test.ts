// The pieces the CLI draws with, without spawning: the DAG layout and renderers, and the
// progress line (a terminal gets it, a pipe gets nothing).
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { colourFrom } from '../../cli/commands/graph.ts';
import { layers, stateOf, toMermaid, toSvg } from '../../cli/graph.ts';
import { outcomeText } from '../../processors/api/outcome-text.ts';
import type { TaskView } from '../../processors/api/log-view.ts';
import { createProgress } from '../../cli/progress.ts';

function task(
  index: number,
  awaits: Array<[number, string]> = [],
  extra: Partial<TaskView> = {},
): TaskView {
  return {
    index,
    instruction: `bafyrmi${'x'.repeat(40)}${index}`,
    func: `f${index}`,
    awaits: awaits.map(([t, selector]) => ({ task: t, selector })),
    external: [],
    status: 'pending',
    replayed: false,
    receipt: null,
    ...extra,
  };
}

describe('graph', () => {
  // A diamond with a tail: 0 → 1, 0 → 2, (1, 2) → 3, 3 -error-> 4.
  const diamond = [
    task(0),
    task(1, [[0, 'await/ok']]),
    task(2, [[0, 'await/ok']]),
    task(3, [
      [1, 'await/ok'],
      [2, 'await/ok'],
    ]),
    task(4, [[3, 'await/error']]),
  ];

  it('layers tasks by their longest path from a root', () => {
    expect(layers(diamond)).toEqual([0, 1, 1, 2, 3]);
    expect(layers([task(0, [[1, 'await/ok']]), task(1)])).toEqual([1, 0]);
  });

  it('writes Mermaid edges, selectors and state classes', () => {
    const text = toMermaid('bafyW', diamond, true);
    expect(text).toContain('t1 --> t3');
    expect(text).toContain('t3 -->|await/error| t4');
    expect(text).toContain('class t0 pending');
    expect(toMermaid('bafyW', [task(0, [], { func: 'say "hi"' })], false)).toContain(
      '#quot;hi#quot;',
    );
  });

  it('draws an SVG with one box per task, one edge per await, escaped text', () => {
    const tasks = diamond.map((t, i) => ({
      ...t,
      status: i === 4 ? ('error' as const) : ('ok' as const),
      replayed: i === 0,
    }));
    tasks[1]!.func = '<script>';
    const svg = toSvg('bafyW', tasks, true);
    expect(svg.match(/<g class="task /g)).toHaveLength(5);
    expect(svg.match(/<path class="edge"/g)).toHaveLength(5);
    expect(svg).toContain('stroke-dasharray'); // the await/error edge
    expect(svg).toContain('&lt;script&gt;');
    expect(svg).not.toContain('<script>');
    expect(stateOf(tasks[0]!)).toBe('replayed');
    expect(stateOf(tasks[4]!)).toBe('error');
    // Tasks of one layer share a row; deeper layers sit lower.
    const ys = [...svg.matchAll(/<rect x="[\d.]+" y="([\d.]+)" width="210"/g)].map((m) =>
      Number(m[1]),
    );
    expect(ys[1]).toBe(ys[2]);
    expect(ys[0]!).toBeLessThan(ys[1]!);
    expect(ys[3]!).toBeLessThan(ys[4]!);
  });
});

describe('graph title, outputs and colours', () => {
  const width = (svg: string): number => Number(/<svg [^>]*width="(\d+)"/.exec(svg)![1]);

  it('never clips the title: the picture widens, then the title wraps, nothing is squeezed', () => {
    const cid = `bafyrmi${'a'.repeat(90)}`;
    // The widest Latin letters, at a full em (13 px) each, past the widest picture.
    const name = Array.from({ length: 30 }, () => 'WWWWWW').join(' ');
    const svg = toSvg(cid, [task(0)], false, name);
    expect(svg).not.toContain('textLength');
    const w = width(svg);
    const lines = [...svg.matchAll(/<tspan x="(\d+)"[^>]*>([^<]*)<\/tspan>/g)];
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.map((l) => l[2]).join(' ')).toBe(`workflow ${name}`);
    // W at a full em; the rest (lowercase, spaces) at 0.7 em, above what sans-serif bold draws.
    const px = (text: string): number =>
      [...text].reduce((sum, ch) => sum + (/[Ww]/.test(ch) ? 13 : 13 * 0.7), 0);
    for (const [, x, text] of lines) expect(Number(x) + px(text!)).toBeLessThanOrEqual(w);
    // The CID (monospace 11 px, 0.6 em a character) on its own line, whole, inside the picture.
    const cidLine = /<text class="cid" x="(\d+)"[^>]*>([^<]*)<\/text>/.exec(svg)!;
    expect(cidLine[2]).toBe(cid);
    expect(Number(cidLine[1]) + cid.length * 11 * 0.6).toBeLessThanOrEqual(w);
    // A short title leaves the picture as wide as its rows need.
    expect(width(toSvg('bafyW', [task(0)], false, 'short'))).toBeLessThan(400);
  });

  it('shows each output or error under the function name, cut with an ellipsis', () => {
    expect(outcomeText(['ok', 2])).toBe('→ 2');
    expect(outcomeText(['error', { kind: 'trap', message: 'trap: divide by zero' }])).toBe(
      '✗ trap: divide by zero',
    );
    expect(outcomeText(['error', { kind: 'fuel', message: 'out of fuel' }])).toBe(
      '✗ fuel: out of fuel',
    );
    const long = outcomeText(['ok', { rows: 'x'.repeat(100) }]);
    expect(long).toHaveLength(40);
    expect(long.endsWith('…')).toBe(true);
    const tasks = [
      task(0, [], { status: 'ok', output: outcomeText(['ok', { sum: 13 }]) }),
      task(1, [[0, 'await/ok']], {
        status: 'error',
        output: outcomeText(['error', { kind: 'trap', message: 'trap: divide by zero' }]),
      }),
      task(2, [[1, 'await/ok']]),
    ];
    const svg = toSvg('bafyW', tasks, true);
    const outputs = [...svg.matchAll(/<text class="output"[^>]*>([^<]*)<\/text>/g)].map(
      (m) => m[1],
    );
    expect(outputs).toEqual(['→ {&quot;sum&quot;:13}', '✗ trap: divide by zero']);
    // Taller boxes hold the third line.
    expect(svg).toMatch(/<rect x="[\d.]+" y="[\d.]+" width="210" height="74"/);
  });

  it('colours from the default data directory when it has a log', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ipvm-graph-'));
    try {
      const env = { IPVM_DATA_DIR: dir };
      expect(colourFrom({}, undefined, env)).toBeUndefined(); // nothing has run there
      await mkdir(join(dir, 'log'));
      expect(colourFrom({}, undefined, env)).toBe(dir);
      expect(colourFrom({ dataDir: '.ipvm' }, 'default', env)).toBe(dir);
      expect(colourFrom({ dataDir: '/srv/x' }, 'cli', env)).toBe('/srv/x');
      expect(colourFrom({ backend: 'kafka' }, undefined, env)).toBeUndefined();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('progress', () => {
  function fake(isTTY: boolean): {
    isTTY: boolean;
    columns: number;
    out: string[];
    write(t: string): boolean;
  } {
    return {
      isTTY,
      columns: 80,
      out: [],
      write(t) {
        this.out.push(t);
        return true;
      },
    };
  }

  it('draws and redraws one line on a terminal, then erases it', () => {
    const stream = fake(true);
    let t = 0;
    const p = createProgress(stream, 4, () => (t += 100));
    p.tick({ replayed: false, ok: true });
    p.tick({ replayed: true, ok: true });
    p.tick({ replayed: false, ok: false });
    const last = stream.out.at(-1)!;
    expect(last.startsWith('\r\x1b[2K')).toBe(true);
    expect(last.slice(5)).toMatch(/^\[#{18}\.{6}\] 3\/4 tasks · 1 replayed · 1 failed · \d\.\d s$/);
    p.done();
    expect(stream.out.at(-1)).toBe('\r\x1b[2K');
    p.tick({ replayed: false, ok: true });
    expect(stream.out.at(-1)).toBe('\r\x1b[2K');
  });

  it('writes nothing when not a terminal', () => {
    const stream = fake(false);
    const p = createProgress(stream, 2);
    p.tick({ replayed: false, ok: true });
    p.done();
    expect(stream.out).toEqual([]);
  });
});
