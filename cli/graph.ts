// The task DAG of a workflow as Mermaid text or as a standalone SVG, laid out by
// processors/dag-layout.ts (shared with the console; why not dagre is said there), so no browser
// or external renderer is needed.
import { layers as layerOf, layoutDag } from '../processors/dag-layout.ts';
import type { TaskView } from '../processors/api/log-view.ts';
import { ellipsis } from '../processors/api/outcome-text.ts';

/** What a node's colour says. */
export type NodeState = 'pending' | 'ok' | 'replayed' | 'error';

/**
 * A generous width of `text` in px at `size` px: no font measures here, so each character is
 * given at least the width most sans-serif fonts draw it with (wide capitals and CJK a full em).
 */
export function textWidth(text: string, size: number, mono = false): number {
  let em = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code >= 0x1100) em += 1;
    else if (mono) em += 0.62;
    else if (/[MWmw@%]/.test(ch)) em += 1;
    else if (/[A-Z]/.test(ch)) em += 0.8;
    else em += 0.7;
  }
  return em * size;
}

/** Splits `text` into lines no wider than `max` px at `size` px, at spaces where it can. */
function wrap(text: string, max: number, size: number, mono = false): string[] {
  const lines: string[] = [];
  let line = '';
  for (const ch of text) {
    if (textWidth(line + ch, size, mono) <= max) {
      line += ch;
      continue;
    }
    const space = line.lastIndexOf(' ');
    if (space > 0 && ch !== ' ') {
      lines.push(line.slice(0, space));
      line = line.slice(space + 1) + ch;
    } else {
      lines.push(line);
      line = ch === ' ' ? '' : ch;
    }
  }
  if (line !== '' || lines.length === 0) lines.push(line);
  return lines;
}

export const STATE_STYLE: Readonly<
  Record<NodeState, { fill: string; stroke: string; label: string }>
> = {
  pending: { fill: '#f1f3f4', stroke: '#9aa0a6', label: 'pending' },
  ok: { fill: '#e3f5dc', stroke: '#2e7d32', label: 'executed ok' },
  replayed: { fill: '#e1ecff', stroke: '#1a57c4', label: 'replayed from memo' },
  error: { fill: '#fde4e1', stroke: '#c62828', label: 'error' },
};

/** The border of effect tasks, whatever their state: they reach outside the node. */
export const EFFECT_STYLE: Readonly<Record<'pure' | 'managed', { stroke: string; label: string }>> =
  {
    pure: { stroke: '#8e24aa', label: 'pure effect (effects.pure)' },
    managed: { stroke: '#ef6c00', label: 'managed effect (effects.managed)' },
  };

export function stateOf(t: TaskView): NodeState {
  if (t.status === 'error') return 'error';
  if (t.status === 'ok') return t.replayed ? 'replayed' : 'ok';
  return 'pending';
}

function shortCid(cid: string): string {
  return cid.length <= 16 ? cid : `${cid.slice(0, 8)}…${cid.slice(-6)}`;
}

/** Mermaid `flowchart TD` text; `colour` adds classes for the task states. */
export function toMermaid(workflow: string, tasks: readonly TaskView[], colour: boolean): string {
  const esc = (s: string): string =>
    s.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
  const lines = ['flowchart TD', `  %% workflow ${workflow}`];
  for (const t of tasks)
    lines.push(`  t${t.index}["#${t.index} ${esc(t.func)}<br/>${shortCid(t.instruction)}"]`);
  const externals = new Map<string, string>();
  for (const t of tasks) {
    for (const e of t.external) {
      let id = externals.get(e);
      if (id === undefined) {
        externals.set(e, (id = `x${externals.size}`));
        lines.push(`  ${id}[/"external ${shortCid(e)}"/]`);
      }
      lines.push(`  ${id} -.-> t${t.index}`);
    }
  }
  for (const t of tasks) {
    for (const a of t.awaits)
      lines.push(
        a.selector === 'await/ok'
          ? `  t${a.task} --> t${t.index}`
          : `  t${a.task} -->|${a.selector}| t${t.index}`,
      );
  }
  if (colour) {
    for (const [state, style] of Object.entries(STATE_STYLE))
      lines.push(`  classDef ${state} fill:${style.fill},stroke:${style.stroke}`);
    for (const t of tasks) lines.push(`  class t${t.index} ${stateOf(t)}`);
  }
  // Effects keep their own border colour, with or without states.
  for (const kind of ['pure', 'managed'] as const) {
    const ids = tasks.filter((t) => t.effect === kind).map((t) => `t${t.index}`);
    if (ids.length === 0) continue;
    lines.push(`  classDef effect_${kind} stroke:${EFFECT_STYLE[kind].stroke},stroke-width:3px`);
    lines.push(`  class ${ids.join(',')} effect_${kind}`);
  }
  return lines.join('\n') + '\n';
}

/** Layer of each task: 0 for roots, else one more than its deepest parent. */
export const layers = (tasks: readonly TaskView[]): number[] => layerOf(tasks);

const W = 210;
/** Box height; taller when a line of output is drawn under the function name. */
const H = 56;
const H_OUTPUT = 74;
const HGAP = 36;
const VGAP = 64;
const MARGIN = 24;
/** The picture grows to fit its title up to this width; a longer title wraps. */
const MAX_TITLE_WIDTH = 1200;
const TITLE_SIZE = 13;
const TITLE_LINE = 18;
const CID_SIZE = 11;

function xml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/**
 * A standalone SVG picture of the DAG; `colour` fills the nodes by state and adds a legend, and
 * each task with a receipt shows its output or error under its function name. The title (the
 * workflow's name, then its CID) is never squeezed: the picture widens to fit it, and a title
 * wider than {@link MAX_TITLE_WIDTH} wraps.
 */
export function toSvg(
  workflow: string,
  tasks: readonly TaskView[],
  colour: boolean,
  name: string | null = null,
): string {
  // Rows are indexed by position in `tasks`; a TaskView's index is its position.
  const { rows } = layoutDag(tasks);
  const depth = rows.length;
  const widest = Math.max(1, ...rows.map((r) => r.length));
  const h = tasks.some((t) => t.output !== undefined) ? H_OUTPUT : H;
  const legendH = colour ? 40 : 0;
  const legendW = Object.values(STATE_STYLE).reduce((w, s) => w + 36 + s.label.length * 7, 0);
  const heading = name === null || name === '' ? 'workflow' : `workflow ${name}`;
  const cidWidth = textWidth(workflow, CID_SIZE, true);
  const width = Math.ceil(
    Math.max(
      MARGIN * 2 + widest * W + (widest - 1) * HGAP,
      MARGIN * 2 + Math.min(MAX_TITLE_WIDTH, textWidth(heading, TITLE_SIZE)),
      MARGIN * 2 + cidWidth,
      MARGIN * 2 + (colour ? legendW : 0),
    ),
  );
  const titleLines = wrap(heading, width - MARGIN * 2, TITLE_SIZE);
  const title = titleLines.length * TITLE_LINE + 22;
  const height = MARGIN * 2 + title + depth * h + Math.max(0, depth - 1) * VGAP + legendH;
  const pos = new Map<number, { x: number; y: number }>();
  rows.forEach((row, r) => {
    const rowWidth = row.length * W + (row.length - 1) * HGAP;
    const x0 = (width - rowWidth) / 2;
    row.forEach((i, c) =>
      pos.set(i, { x: x0 + c * (W + HGAP), y: MARGIN + title + r * (h + VGAP) }),
    );
  });

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="ui-sans-serif, system-ui, sans-serif" font-size="12">`,
  );
  out.push(`<title>${xml(`${heading} ${workflow}`)}</title>`);
  out.push(
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5f6368"/></marker></defs>',
  );
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(
    `<text class="title" x="${MARGIN}" y="${MARGIN + 4}" font-size="${TITLE_SIZE}" font-weight="600" fill="#202124">${titleLines.map((l, i) => `<tspan x="${MARGIN}" dy="${i === 0 ? 0 : TITLE_LINE}">${xml(l)}</tspan>`).join('')}</text>`,
  );
  out.push(
    `<text class="cid" x="${MARGIN}" y="${MARGIN + 4 + titleLines.length * TITLE_LINE}" font-size="${CID_SIZE}" fill="#5f6368" font-family="ui-monospace, monospace">${xml(workflow)}</text>`,
  );
  for (const t of tasks) {
    const to = pos.get(t.index)!;
    for (const a of t.awaits) {
      const from = pos.get(a.task)!;
      const x1 = from.x + W / 2;
      const y1 = from.y + h;
      const x2 = to.x + W / 2;
      const y2 = to.y;
      const my = (y1 + y2) / 2;
      const dash = a.selector === 'await/ok' ? '' : ' stroke-dasharray="5 3"';
      out.push(
        `<path class="edge" d="M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}" fill="none" stroke="#5f6368" stroke-width="1.4"${dash} marker-end="url(#arrow)"/>`,
      );
      if (a.selector !== 'await/ok')
        out.push(
          `<text x="${(x1 + x2) / 2 + 4}" y="${my}" fill="#5f6368" font-size="11">${xml(a.selector)}</text>`,
        );
    }
  }
  for (const t of tasks) {
    const { x, y } = pos.get(t.index)!;
    const state = stateOf(t);
    const style = colour ? STATE_STYLE[state] : STATE_STYLE.pending;
    const sub = t.external.length > 0 ? ` · awaits ${t.external.length} external` : '';
    out.push(`<g class="task ${colour ? state : ''}" data-instruction="${xml(t.instruction)}">`);
    out.push(
      `<title>${xml(`#${t.index} ${t.func}\ninstruction ${t.instruction}${t.receipt === null ? '' : `\nreceipt ${t.receipt}`}\n${STATE_STYLE[state].label}${t.output === undefined ? '' : `\n${t.output}`}`)}</title>`,
    );
    const fx = t.effect === undefined ? undefined : EFFECT_STYLE[t.effect];
    out.push(
      `<rect x="${x}" y="${y}" width="${W}" height="${h}" rx="8" fill="${style.fill}" stroke="${fx?.stroke ?? style.stroke}" stroke-width="${fx === undefined ? 1.5 : 3}"${fx === undefined ? '' : ` data-effect="${t.effect}"`}/>`,
    );
    out.push(
      `<text x="${x + 12}" y="${y + 22}" font-weight="600" fill="#202124">#${t.index} ${xml(t.func.length > 24 ? t.func.slice(0, 23) + '…' : t.func)}</text>`,
    );
    out.push(
      `<text x="${x + 12}" y="${y + 41}" fill="#5f6368" font-family="ui-monospace, monospace" font-size="11">${xml(shortCid(t.instruction))}${xml(sub)}</text>`,
    );
    if (t.output !== undefined)
      out.push(
        `<text class="output" x="${x + 12}" y="${y + 60}" fill="${t.status === 'error' ? STATE_STYLE.error.stroke : '#202124'}" font-family="ui-monospace, monospace" font-size="11">${xml(ellipsis(t.output, 28))}</text>`,
      );
    out.push('</g>');
  }
  if (colour) {
    let lx = MARGIN;
    const ly = height - MARGIN - 12;
    for (const style of Object.values(STATE_STYLE)) {
      out.push(
        `<rect x="${lx}" y="${ly - 10}" width="14" height="14" rx="3" fill="${style.fill}" stroke="${style.stroke}"/>`,
      );
      out.push(`<text x="${lx + 20}" y="${ly + 1}" fill="#202124">${xml(style.label)}</text>`);
      lx += 36 + style.label.length * 7;
    }
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
