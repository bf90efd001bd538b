// The details of one task: instruction, arguments with awaits resolved, receipt, output, error.
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { ms } from './util.js';

function Output({ output }) {
  if (output === null) return html`<p class="muted">No receipt yet.</p>`;
  const v = output.view;
  if (v.type === 'json') return html`<pre class="json" id="output-json">${v.text}</pre>`;
  return html`<div>
    <p class="muted">${v.length} bytes${v.mime ? ` · ${v.mime}` : ''}</p>
    ${
      v.mime && v.base64
        ? html`<img
            class="preview"
            id="output-image"
            alt="output"
            src=${`data:${v.mime};base64,${v.base64}`}
          />`
        : html`<pre class="hex" id="output-hex">${v.hex}${v.length > 4096 ? ' …' : ''}</pre>`
    }
  </div>`;
}

export function TaskPanel({ call, workflow, index, version, onClose }) {
  const [task, setTask] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let stale = false;
    call('console_task', { workflow, index })
      .then((t) => !stale && (setTask(t), setError(null)))
      .catch((e) => !stale && setError(e.message));
    return () => (stale = true);
  }, [workflow, index, version]);
  if (error !== null) return html`<aside class="panel"><p class="error">${error}</p></aside>`;
  if (task === null) return html`<aside class="panel"><p class="muted">Loading…</p></aside>`;
  const i = task.instruction;
  return html`<aside class="panel" id="task-panel" data-index=${index}>
    <div class="toolbar">
      <h2>#${task.index} ${task.func}</h2>
      <span class=${`badge ${task.state}`}>${task.state}</span>
      <span class="grow"></span>
      <button class="close" onClick=${onClose} title="close">×</button>
    </div>
    ${
      task.error
        ? html`<div class="errorbox" id="task-error">
            <strong>${task.error.kind}</strong>: ${task.error.message}
          </div>`
        : null
    }
    <dl class="facts">
      <dt>kind</dt>
      <dd>${{ wasm: 'pure Wasm', effect: 'pure effect', managed: 'managed effect' }[task.kind]}</dd>
      <dt>op</dt>
      <dd><code>${i.op}</code></dd>
      <dt>rsc</dt>
      <dd><code class="wrap">${i.rsc}</code></dd>
      <dt>instruction</dt>
      <dd><code class="wrap">${i.cid}</code></dd>
      <dt>receipt</dt>
      <dd><code class="wrap" id="task-receipt">${task.receipt ?? '—'}</code></dd>
      <dt>duration</dt>
      <dd>${ms(task.durationMs)}</dd>
      <dt>fuel</dt>
      <dd>${task.fuel ?? '—'}</dd>
      <dt>executor</dt>
      <dd><code class="wrap">${task.executor ?? '—'}</code></dd>
      <dt>retries</dt>
      <dd>${task.retries}</dd>
    </dl>
    <h3>Arguments <span class="muted">(awaits resolved)</span></h3>
    <pre class="json">${task.args ?? '—'}</pre>
    <h3>
      Output ${task.output ? html`<span class="muted">(${task.output.outcome})</span>` : null}
    </h3>
    <${Output} output=${task.output} />
    <details>
      <summary>Instruction input</summary>
      <pre class="json">${i.input}</pre>
    </details>
  </aside>`;
}
