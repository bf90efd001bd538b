// The pieces the CLI draws with, without spawning: the DAG layout and renderers, and the
// progress line (a terminal gets it, a pipe gets nothing).
import { describe, expect, it } from 'vitest';
import { layers, stateOf, toMermaid, toSvg } from '../../cli/graph.ts';
import type { TaskView } from '../../cli/log-view.ts';
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
    // The title is fitted inside the picture: its reserved length ends before the right edge.
    const width = Number(/<svg [^>]*width="(\d+)"/.exec(svg)![1]);
    const title = /<text x="(\d+)"[^>]*textLength="(\d+)"[^>]*>workflow /.exec(svg)!;
    expect(Number(title[1]) + Number(title[2])).toBeLessThanOrEqual(width);
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
