// The console's shell: a hash router over four pages, one WebSocket, live notifications.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { connect } from './rpc.js';
import { WorkflowList } from './list.js';
import { WorkflowPage } from './workflow.js';
import { NodePage } from './node.js';
import { SearchPage } from './search.js';

function route() {
  const h = location.hash.replace(/^#/, '') || '/';
  const parts = h.split('/').filter((p) => p !== '');
  if (parts[0] === 'w' && parts[1])
    return {
      page: 'workflow',
      cid: parts[1],
      selected: parts[2] === undefined ? null : Number(parts[2]),
    };
  if (parts[0] === 'node') return { page: 'node' };
  if (parts[0] === 'search') return { page: 'search', query: decodeURIComponent(parts[1] ?? '') };
  return { page: 'list' };
}

let notify = () => undefined;
let setConnection = () => undefined;
const call = connect(
  (n) => notify(n),
  (s) => setConnection(s),
);

function App() {
  const [r, setR] = useState(route());
  const [changes, setChanges] = useState(null);
  const [conn, setConn] = useState('connecting');
  const [node, setNode] = useState(null);
  const [error, setError] = useState(null);
  notify = setChanges;
  setConnection = setConn;
  useEffect(() => {
    const onHash = () => setR(route());
    addEventListener('hashchange', onHash);
    call('console_node', []).then(setNode, (e) => setError(e.message));
    return () => removeEventListener('hashchange', onHash);
  }, []);
  const onError = (message) => setError(message);
  const tab = (href, label, page) =>
    html`<a href=${href} class=${r.page === page ? 'active' : ''}>${label}</a>`;
  return html`<header>
      <span class="brand">IPVM console</span>
      <nav>
        ${tab('#/', 'Workflows', 'list')}${tab('#/node', 'Node', 'node')}${tab('#/search/', 'Memo search', 'search')}
      </nav>
      <span class="grow"></span>
      <span class=${`conn ${conn}`} id="connection">${conn}</span>
    </header>
    ${
      error !== null
        ? html`<div class="toast" id="toast">
            ${error} <button onClick=${() => setError(null)}>×</button>
          </div>`
        : null
    }
    <main>
      ${
        r.page === 'list'
          ? html`<${WorkflowList}
              call=${call}
              changes=${changes}
              node=${node}
              onError=${onError}
            />`
          : r.page === 'workflow'
            ? html`<${WorkflowPage}
                call=${call}
                cid=${r.cid}
                selected=${r.selected}
                changes=${changes}
                node=${node}
                onError=${onError}
              />`
            : r.page === 'node'
              ? html`<${NodePage} call=${call} onError=${onError} />`
              : html`<${SearchPage} call=${call} query=${r.query} />`
      }
    </main>`;
}

const root = document.getElementById('app');
root.textContent = '';
render(html`<${App} />`, root);
