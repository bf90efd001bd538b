// One workflow: its DAG, live; a click on a task opens its details.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from './html.js';
import { Dag, Legend } from './dag.js';
import { TaskPanel } from './task.js';
import { Cid, ms, Status, time } from './util.js';

function Actions({ call, cid, running, onError }) {
  const [cancelling, setCancelling] = useState(false);
  const cancel = async () => {
    setCancelling(true);
    try {
      await call('console_cancel', { cid });
    } catch (err) {
      // A node in ucan mode asks for a proof of workflow/cancel on this workflow (-32001).
      const token =
        err.code === -32001
          ? window.prompt(
              `Cancelling needs a UCAN granting workflow/cancel on ipvm:workflow:${cid}. Token:`,
            )
          : null;
      try {
        if (token === null || token.trim() === '') throw err;
        await call('console_cancel', { cid, proofs: [token.trim()] });
      } catch (again) {
        setCancelling(false);
        onError(again.message);
      }
    }
  };
  const rerun = async (mode) => {
    try {
      const res = await call('console_rerun', { cid, mode });
      location.hash = `#/w/${res.cid}`;
    } catch (err) {
      onError(err.message);
    }
  };
  return html`<span class="actions">
    ${
      running
        ? html`<button
            id="cancel"
            disabled=${cancelling}
            onClick=${cancel}
            title="release nothing more; running tasks finish, then the workflow ends failed"
          >
            ${cancelling ? 'Cancelling…' : 'Cancel'}
          </button>`
        : null
    }
    <button
      id="rerun-replay"
      onClick=${() => rerun('replay')}
      title="submit the same workflow: the memo answers"
    >
      Re-run (replay)
    </button>
    <button
      id="rerun-nonce"
      onClick=${() => rerun('nonce')}
      title="fresh nonces: every task runs again"
    >
      Re-run (new nonce)
    </button>
  </span>`;
}

export function WorkflowPage({ call, cid, selected, changes, node, onError }) {
  const [wf, setWf] = useState(null);
  const [missing, setMissing] = useState(null);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let stale = false;
    setWf(null);
    setMissing(null);
    call('console_workflow', { cid })
      .then((r) => !stale && setWf(r))
      .catch((e) => !stale && setMissing(e.message));
    return () => (stale = true);
  }, [cid]);
  // Live: the tasks and summary of a notification go into the workflow shown now (a change can
  // arrive in the same frame as a fetched answer; merged into the one of the render it came
  // with, it would put back what that answer replaced). An answer for a workflow no longer
  // shown is dropped.
  const shown = useRef(cid);
  shown.current = cid;
  useEffect(() => {
    if (changes === null) return;
    const summary = changes.workflows.find((s) => s.cid === cid);
    const mine = changes.tasks.filter((t) => t.workflow === cid);
    if (summary === undefined && mine.length === 0) return;
    const fetchAgain = () =>
      call('console_workflow', { cid }).then(
        (r) => {
          if (shown.current !== cid) return;
          setMissing(null);
          setWf(r);
        },
        () => undefined,
      );
    // Submitted just now: it may not have been known at the first fetch.
    if (wf === null) return void fetchAgain();
    // It ended: fetch it again for its end reason (e.g. cancelled).
    if (summary !== undefined && summary.status !== 'running' && wf.summary.status === 'running')
      return void fetchAgain();
    setWf((w) => {
      if (w === null) return w;
      const tasks = w.tasks.slice();
      for (const t of mine) tasks[t.index] = { ...tasks[t.index], state: t.state };
      return { ...w, summary: summary ?? w.summary, tasks };
    });
    if (selected !== null && mine.some((t) => t.index === selected)) setVersion((v) => v + 1);
  }, [changes]);
  if (missing !== null) return html`<section><p class="error">${missing}</p></section>`;
  if (wf === null) return html`<section><p class="muted">Loading…</p></section>`;
  const s = wf.summary;
  const select = (i) => (location.hash = `#/w/${cid}/${i}`);
  return html`<section class="workflow">
    <div class="toolbar">
      <h1>${s.name ?? '(unnamed workflow)'}</h1>
      <${Status} status=${s.status} />
      <span class="grow"></span>
      ${
        node?.actions
          ? html`<${Actions}
              key=${cid}
              call=${call}
              cid=${cid}
              running=${s.status === 'running'}
              onError=${onError}
            />`
          : null
      }
    </div>
    <dl class="facts">
      <dt>workflow</dt>
      <dd><code>${s.cid}</code></dd>
      <dt>tasks</dt>
      <dd id="progress">
        ${s.done} / ${s.tasks} done · ${s.failed} failed · ${s.replayed} replayed
      </dd>
      <dt>started</dt>
      <dd>${time(s.submittedAt)}</dd>
      <dt>duration</dt>
      <dd>${ms(s.durationMs)}</dd>
      ${
        wf.reason
          ? html`<dt>reason</dt>
              <dd class="error">${wf.reason}</dd>`
          : null
      }
    </dl>
    <${Legend} />
    <div class="split">
      <div class="canvas">
        <${Dag} cid=${cid} tasks=${wf.tasks} selected=${selected} onSelect=${select} />
      </div>
      ${
        selected !== null
          ? html`<${TaskPanel}
              call=${call}
              workflow=${cid}
              index=${selected}
              version=${version}
              onClose=${() => (location.hash = `#/w/${cid}`)}
            />`
          : null
      }
    </div>
  </section>`;
}

export { Cid };
