// The task DAG as SVG, placed by the layout the node computes (the same as `ipvm graph`):
// rows by longest path from the roots, columns ordered by the parents' mean column.
//
// The picture is built once per workflow as one SVG string (the browser's parser draws a
// thousand tasks far faster than a thousand components would), then kept live by setting each
// task's state class in place; clicks are delegated from the <svg>.
import { useLayoutEffect, useMemo, useRef } from 'preact/hooks';
import { html } from './html.js';

const W = 176;
const H = 46;
const HGAP = 28;
const VGAP = 46;
const M = 16;

const KIND_LABEL = { wasm: 'pure Wasm', effect: 'pure effect', managed: 'managed effect' };
const KIND_GLYPH = { wasm: 'λ', effect: '↗', managed: '⚠' };
/** Above this many tasks, nodes get no tooltip and edges no arrowhead (first render cost). */
const TOOLTIP_LIMIT = 300;

function esc(s) {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

function short(cid) {
  return cid.length <= 16 ? cid : `${cid.slice(0, 7)}…${cid.slice(-5)}`;
}

/** Positions of the tasks and the size of the picture. */
export function place(tasks) {
  const widths = [];
  for (const t of tasks) widths[t.layer] = Math.max(widths[t.layer] ?? 0, t.column + 1);
  const widest = Math.max(1, ...widths.map((w) => w ?? 0));
  const width = M * 2 + widest * W + (widest - 1) * HGAP;
  const rows = widths.length;
  const height = M * 2 + rows * H + Math.max(0, rows - 1) * VGAP;
  const pos = tasks.map((t) => {
    const n = widths[t.layer];
    const x0 = (width - (n * W + (n - 1) * HGAP)) / 2;
    return { x: x0 + t.column * (W + HGAP), y: M + t.layer * (H + VGAP) };
  });
  return { pos, width, height };
}

/** The SVG's inside: edges, then one <g class="task"> per task (states are set afterwards). */
export function drawing(tasks, pos) {
  const out = [
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>',
  ];
  // Arrowheads are drawn per edge instance: on big graphs they cost more than they tell
  // (edges always point down, from a task to the tasks awaiting it).
  const marker = tasks.length <= TOOLTIP_LIMIT ? ' marker-end="url(#arrow)"' : '';
  for (const t of tasks) {
    const to = pos[t.index];
    for (const a of t.awaits) {
      const from = pos[a.task];
      const x1 = from.x + W / 2;
      const y1 = from.y + H;
      const x2 = to.x + W / 2;
      const y2 = to.y;
      const my = (y1 + y2) / 2;
      out.push(
        `<path class="edge${a.selector === 'await/ok' ? '' : ' dashed'}" d="M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}"${marker}/>`,
      );
    }
  }
  const tooltips = tasks.length <= TOOLTIP_LIMIT;
  // Big graphs drop the kind glyph (the node's outline still tells the kind apart).
  const big = !tooltips;
  for (const t of tasks) {
    const { x, y } = pos[t.index];
    const func = t.func.length > 19 ? t.func.slice(0, 18) + '…' : t.func;
    out.push(
      `<g class="task ${esc(t.kind)}" data-index="${t.index}" data-kind="${esc(t.kind)}">`,
      tooltips
        ? `<title>${esc(`#${t.index} ${t.func} (${KIND_LABEL[t.kind]})\n${t.instruction}`)}</title>`
        : '',
      `<rect x="${x}" y="${y}" width="${W}" height="${H}" rx="${t.kind === 'wasm' ? 9 : 0}"/>`,
      t.kind === 'managed'
        ? `<rect class="inner" x="${x + 3}" y="${y + 3}" width="${W - 6}" height="${H - 6}"/>`
        : '',
      `<text x="${x + 10}" y="${y + 19}" class="label">#${t.index} ${esc(func)}</text>`,
      `<text x="${x + 10}" y="${y + 36}" class="cid">${esc(short(t.instruction))}</text>`,
      big
        ? ''
        : `<text x="${x + W - 8}" y="${y + 19}" class="kind">${KIND_GLYPH[t.kind] ?? ''}</text>`,
      '</g>',
    );
  }
  return out.join('');
}

export function Dag({ cid, tasks, selected, onSelect }) {
  const svg = useRef(null);
  const nodes = useRef([]);
  // The structure of a workflow never changes: draw it once per workflow.
  const { width, height, inner } = useMemo(() => {
    const { pos, width, height } = place(tasks);
    return { width, height, inner: drawing(tasks, pos) };
  }, [cid, tasks.length]);
  useLayoutEffect(() => {
    nodes.current = [...svg.current.querySelectorAll('g.task')];
  }, [inner]);
  // Live states and the selection, set in place.
  useLayoutEffect(() => {
    const gs = nodes.current;
    for (const t of tasks) {
      const g = gs[t.index];
      if (g === undefined) continue;
      if (g.dataset.state !== t.state) {
        if (g.dataset.state) g.classList.remove(g.dataset.state);
        g.classList.add(t.state);
        g.dataset.state = t.state;
      }
      g.classList.toggle('selected', selected === t.index);
    }
  });
  const onClick = (e) => {
    const g = e.target.closest('g.task');
    if (g) onSelect(Number(g.dataset.index));
  };
  return html`<svg
    ref=${svg}
    class=${tasks.length > TOOLTIP_LIMIT ? 'dag big' : 'dag'}
    width=${width}
    height=${height}
    viewBox=${`0 0 ${width} ${height}`}
    role="img"
    aria-label="task graph"
    onClick=${onClick}
    dangerouslySetInnerHTML=${{ __html: inner }}
  ></svg>`;
}

export function Legend() {
  return html`<div class="legend">
    <span class="chip ok">executed</span>
    <span class="chip replayed">replayed</span>
    <span class="chip error">error</span>
    <span class="chip pending">pending</span>
    <span class="chip ready">released</span>
    <span class="sep"></span>
    <span class="shape wasm">λ pure Wasm</span>
    <span class="shape effect">↗ pure effect</span>
    <span class="shape managed">⚠ managed effect</span>
  </div>`;
}
