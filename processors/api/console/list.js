// Workflows: a live list, filtered by status and name; submit a workflow file when allowed.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from './html.js';
import { Cid, ms, Status, time } from './util.js';

function Submit({ call, onError }) {
  const [busy, setBusy] = useState(false);
  const onFile = async (e) => {
    const file = e.target.files?.[0];
    if (!file) return;
    setBusy(true);
    try {
      const text = await file.text();
      const res = await call('console_submit', {
        workflow: text,
        name: file.name.replace(/\.(json|cbor)$/, ''),
      });
      location.hash = `#/w/${res.cid}`;
    } catch (err) {
      onError(err.message);
    } finally {
      setBusy(false);
      e.target.value = '';
    }
  };
  return html`<label class="button">
    ${busy ? 'Submitting…' : 'Submit workflow file'}
    <input type="file" accept=".json,.cbor,application/json" id="submit-file" onChange=${onFile} />
  </label>`;
}

/** `rows` with each summary in `changed` put in when it matches the filter, taken out when not. */
function merge(rows, changed, { status, name }) {
  const byCid = new Map(rows.map((r) => [r.cid, r]));
  const needle = name.toLowerCase();
  for (const s of changed) {
    const matches =
      (status === '' || s.status === status) &&
      (needle === '' ||
        (s.name ?? '').toLowerCase().includes(needle) ||
        s.cid.toLowerCase().includes(needle));
    if (matches) byCid.set(s.cid, s);
    else byCid.delete(s.cid);
  }
  return [...byCid.values()].sort((a, b) => b.submittedAt - a.submittedAt);
}

export function WorkflowList({ call, changes, node, onError }) {
  const [status, setStatus] = useState('');
  const [name, setName] = useState('');
  const [rows, setRows] = useState(null);
  useEffect(() => {
    let stale = false;
    call('console_workflows', { status, name })
      .then((r) => !stale && setRows(r))
      .catch((e) => onError(e.message));
    return () => (stale = true);
  }, [status, name]);
  // Live: merge changed summaries that match the filter into the rows shown now. A change can
  // arrive in the same frame as the answer for a new filter: merged into the rows of the render
  // it came with, it would put back the rows that answer had just replaced.
  const filter = useRef({ status, name });
  filter.current = { status, name };
  useEffect(() => {
    if (changes === null) return;
    setRows((rows) => (rows === null ? rows : merge(rows, changes.workflows, filter.current)));
  }, [changes]);
  return html`<section>
    <div class="toolbar">
      <h1>Workflows</h1>
      <select id="status-filter" value=${status} onChange=${(e) => setStatus(e.target.value)}>
        <option value="">all statuses</option>
        <option value="running">running</option>
        <option value="completed">completed</option>
        <option value="failed">failed</option>
      </select>
      <input
        id="name-filter"
        type="search"
        placeholder="name or CID"
        value=${name}
        onInput=${(e) => setName(e.target.value)}
      />
      <span class="grow"></span>
      ${node?.actions ? html`<${Submit} call=${call} onError=${onError} />` : html`<span class="muted" title="start the node with --console-actions to submit and re-run">read-only</span>`}
    </div>
    ${
      rows === null
        ? html`<p class="muted">Loading…</p>`
        : rows.length === 0
          ? html`<p class="muted">No workflows yet.</p>`
          : html`<table class="list" id="workflows">
              <thead>
                <tr>
                  <th>name</th>
                  <th>workflow</th>
                  <th>status</th>
                  <th>tasks</th>
                  <th>done</th>
                  <th>failed</th>
                  <th>replayed</th>
                  <th>started</th>
                  <th>duration</th>
                </tr>
              </thead>
              <tbody>
                ${rows.map(
                  (r) =>
                    html`<tr
                      key=${r.cid}
                      data-cid=${r.cid}
                      class="row"
                      onClick=${() => (location.hash = `#/w/${r.cid}`)}
                    >
                      <td><a href=${`#/w/${r.cid}`}>${r.name ?? '(unnamed)'}</a></td>
                      <td><${Cid} cid=${r.cid} /></td>
                      <td><${Status} status=${r.status} /></td>
                      <td class="num">${r.tasks}</td>
                      <td class="num">${r.done}</td>
                      <td class="num">${r.failed}</td>
                      <td class="num">${r.replayed}</td>
                      <td>${time(r.submittedAt)}</td>
                      <td>${ms(r.durationMs)}</td>
                    </tr>`,
                )}
              </tbody>
            </table>`
    }
  </section>`;
}
