// Small formatting helpers shared by the pages.
import { html } from './html.js';

export function short(cid) {
  return cid === null || cid === undefined
    ? '—'
    : cid.length <= 18
      ? cid
      : `${cid.slice(0, 9)}…${cid.slice(-6)}`;
}

export function ms(value) {
  if (value === null || value === undefined) return '—';
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60_000) return `${(value / 1000).toFixed(1)} s`;
  return `${Math.floor(value / 60_000)} min ${Math.round((value % 60_000) / 1000)} s`;
}

export function time(at) {
  return at === null || at === undefined ? '—' : new Date(at).toLocaleTimeString();
}

export function Status({ status }) {
  return html`<span class=${`badge ${status}`}>${status}</span>`;
}

export function Cid({ cid }) {
  return html`<code class="cid" title=${cid}>${short(cid)}</code>`;
}
