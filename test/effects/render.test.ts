// Effects in the CLI's views: inspect marks them, graph draws them in their own colour.
import { describe, expect, it } from 'vitest';
import { EFFECT_STYLE, toMermaid, toSvg } from '../../cli/graph.ts';
import { tasksOf } from '../../processors/api/log-view.ts';
import { inspectWorkflow } from '../../cli/commands/inspect.ts';

const wf = JSON.stringify({
  tasks: [
    { run: { rsc: 'https://api.example.com/doc', op: 'http/get', input: {}, nnc: '' } },
    { run: { rsc: 'https://api.example.com/out', op: 'http/post', input: { body: 'x' }, nnc: '' } },
    { run: { rsc: 'ipfs://bafkqaaa', op: 'wasm/run', input: { func: 'f', args: [] }, nnc: '' } },
  ],
});

describe('effects in inspect and graph', () => {
  it('marks effect tasks with their op, target and kind', () => {
    const out = inspectWorkflow(new TextEncoder().encode(wf));
    expect(out.tasks.map((t) => t.effect)).toEqual([
      { op: 'http/get', rsc: 'https://api.example.com/doc', kind: 'pure' },
      { op: 'http/post', rsc: 'https://api.example.com/out', kind: 'managed' },
      undefined,
    ]);
  });
  it('draws effects with their own border colour, with or without states', () => {
    const tasks = tasksOf(wf);
    expect(tasks.map((t) => t.effect)).toEqual(['pure', 'managed', undefined]);
    const mermaid = toMermaid('bafyW', tasks, false);
    expect(mermaid).toContain(`classDef effect_pure stroke:${EFFECT_STYLE.pure.stroke}`);
    expect(mermaid).toContain('class t0 effect_pure');
    expect(mermaid).toContain('class t1 effect_managed');
    expect(mermaid).not.toContain('class t2 effect');
    const svg = toSvg('bafyW', tasks, true);
    expect(svg).toContain(
      `stroke="${EFFECT_STYLE.managed.stroke}" stroke-width="3" data-effect="managed"`,
    );
    expect(svg.match(/data-effect=/g)).toHaveLength(2);
  });
});
