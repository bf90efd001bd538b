// The task DAG as SVG, placed by the layout the node computes (the same as `ipvm graph`):
// rows by longest path from the roots, columns ordered by the parents' mean column.
import { html } from './html.js';

const W = 176;
const H = 46;
const HGAP = 28;
const VGAP = 46;
const M = 16;

const KIND_LABEL = { wasm: 'wasm', effect: 'effect', managed: 'managed effect' };

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

export function Dag({ tasks, selected, onSelect }) {
  const { pos, width, height } = place(tasks);
  const edges = [];
  for (const t of tasks) {
    const to = pos[t.index];
    for (const a of t.awaits) {
      const from = pos[a.task];
      const x1 = from.x + W / 2;
      const y1 = from.y + H;
      const x2 = to.x + W / 2;
      const y2 = to.y;
      const my = (y1 + y2) / 2;
      edges.push(
        html`<path
          class=${a.selector === 'await/ok' ? 'edge' : 'edge dashed'}
          d=${`M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}`}
          marker-end="url(#arrow)"
        />`,
      );
    }
  }
  return html`<svg
    class="dag"
    width=${width}
    height=${height}
    viewBox=${`0 0 ${width} ${height}`}
    role="img"
    aria-label="task graph"
  >
    <defs>
      <marker
        id="arrow"
        viewBox="0 0 10 10"
        refX="10"
        refY="5"
        markerWidth="7"
        markerHeight="7"
        orient="auto-start-reverse"
      >
        <path d="M0,0 L10,5 L0,10 z" class="arrowhead" />
      </marker>
    </defs>
    ${edges}
    ${tasks.map((t) => {
      const { x, y } = pos[t.index];
      const cls = `task ${t.state} ${t.kind}${selected === t.index ? ' selected' : ''}`;
      return html`<g
        class=${cls}
        data-index=${t.index}
        data-state=${t.state}
        data-kind=${t.kind}
        onClick=${() => onSelect(t.index)}
      >
        <title>
          ${`#${t.index} ${t.func} (${KIND_LABEL[t.kind]}, ${t.state})\n${t.instruction}`}
        </title>
        <rect x=${x} y=${y} width=${W} height=${H} rx=${t.kind === 'wasm' ? 9 : 0} />
        ${
          t.kind === 'managed'
            ? html`<rect class="inner" x=${x + 3} y=${y + 3} width=${W - 6} height=${H - 6} />`
            : null
        }
        <text x=${x + 10} y=${y + 19} class="label">
          ${`#${t.index} ${t.func.length > 19 ? t.func.slice(0, 18) + '…' : t.func}`}
        </text>
        <text x=${x + 10} y=${y + 36} class="cid">${short(t.instruction)}</text>
        <text x=${x + W - 8} y=${y + 19} class="kind"
          >${t.kind === 'wasm' ? 'λ' : t.kind === 'effect' ? '↗' : '⚠'}</text
        >
      </g>`;
    })}
  </svg>`;
}

export function Legend() {
  return html`<div class="legend">
    <span class="chip ok">executed</span>
    <span class="chip replayed">replayed</span>
    <span class="chip error">error</span>
    <span class="chip pending">pending</span>
    <span class="sep"></span>
    <span class="shape wasm">λ pure Wasm</span>
    <span class="shape effect">↗ pure effect</span>
    <span class="shape managed">⚠ managed effect</span>
  </div>`;
}
