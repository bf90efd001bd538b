// Memo search: by instruction CID, receipt CID, output CID (reverse lookup) or function name.
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';

export function SearchPage({ call, query }) {
  const [q, setQ] = useState(query);
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  // Each search asked for: the same query submitted again (the memo fills behind the engine, so
  // what was not there a moment ago may be now) searches again, though the address is the same.
  const [asked, setAsked] = useState(0);
  // The box follows the address when the address changes, while rendering: put there after a
  // paint, it would wipe out what was typed meanwhile.
  const [from, setFrom] = useState(query);
  if (from !== query) {
    setFrom(query);
    setQ(query);
  }
  useEffect(() => {
    if (query === '') return;
    let stale = false;
    setResult(null);
    setError(null);
    call('console_memo_search', { query }).then(
      (r) => !stale && setResult(r),
      (e) => !stale && setError(e.message),
    );
    return () => (stale = true);
  }, [query, asked]);
  const submit = (e) => {
    e.preventDefault();
    const next = `#/search/${encodeURIComponent(q.trim())}`;
    if (location.hash === next) setAsked((n) => n + 1);
    else location.hash = next;
  };
  return html`<section>
    <div class="toolbar"><h1>Memo search</h1></div>
    <form class="search" onSubmit=${submit}>
      <input
        id="search-input"
        type="search"
        size="70"
        placeholder="instruction, receipt or output CID, or a function name"
        value=${q}
        onInput=${(e) => setQ(e.target.value)}
      />
      <button type="submit" id="search-button">Search</button>
    </form>
    ${error !== null ? html`<p class="error">${error}</p>` : null}
    ${
      result === null
        ? null
        : result.hits.length === 0
          ? html`<p class="muted" id="search-empty">
              Nothing in the ${result.source === 'tables' ? 'tables' : 'memo'} for ${result.query}.
            </p>`
          : html`<p class="muted">
                ${result.hits.length}${result.truncated ? '+' : ''} hit(s) from the
                ${result.source === 'tables' ? 'ClickHouse tables' : 'in-process memo'}
              </p>
              <table class="list" id="search-results">
                <thead>
                  <tr>
                    <th>matched</th>
                    <th>function</th>
                    <th>outcome</th>
                    <th>instruction</th>
                    <th>receipt</th>
                    <th>output CID</th>
                  </tr>
                </thead>
                <tbody>
                  ${result.hits.map(
                    (h) =>
                      html`<tr>
                        <td><span class="badge">${h.match}</span></td>
                        <td><code>${h.func}</code></td>
                        <td>
                          <span class=${`badge ${h.outcome === 'ok' ? 'completed' : 'failed'}`}
                            >${h.outcome}</span
                          >
                        </td>
                        <td><code class="wrap">${h.instruction}</code></td>
                        <td><code class="wrap">${h.receipt}</code></td>
                        <td><code class="wrap">${h.outputCid}</code></td>
                      </tr>`,
                  )}
                </tbody>
              </table>`
    }
  </section>`;
}
