// The node: streams and lag, memo, task rate (a small chart), executor use, dead letters.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from './html.js';
import { time } from './util.js';

function RateChart({ rate }) {
  const W = 600;
  const H = 120;
  const n = rate.executed.length;
  const perS = (x) => x / (rate.bucketMs / 1000);
  const max = Math.max(1, ...rate.executed.map((e, i) => perS(e + rate.replayed[i])));
  const bw = W / n;
  return html`<figure class="chart">
    <svg
      width=${W}
      height=${H + 18}
      viewBox=${`0 0 ${W} ${H + 18}`}
      role="img"
      aria-label="tasks per second"
      id="rate-chart"
    >
      <line class="axis" x1="0" y1=${H} x2=${W} y2=${H} />
      ${rate.executed.map((e, i) => {
        const r = rate.replayed[i];
        const he = (perS(e) / max) * H;
        const hr = (perS(r) / max) * H;
        return html`<g>
          <rect
            class="bar executed"
            x=${i * bw}
            y=${H - he}
            width=${Math.max(1, bw - 1)}
            height=${he}
          />
          <rect
            class="bar replayed"
            x=${i * bw}
            y=${H - he - hr}
            width=${Math.max(1, bw - 1)}
            height=${hr}
          />
        </g>`;
      })}
      <text x="2" y="12" class="tick">${max.toFixed(1)} tasks/s</text>
      <text x="2" y=${H + 14} class="tick">−${Math.round((n * rate.bucketMs) / 60000)} min</text>
      <text x=${W - 2} y=${H + 14} class="tick end">now</text>
    </svg>
    <figcaption>
      <span class="chip ok">executed</span> <span class="chip replayed">replayed</span>
      ${` per second, ${rate.bucketMs / 1000} s buckets`}
    </figcaption>
  </figure>`;
}

export function NodePage({ call, onError }) {
  const [n, setN] = useState(null);
  // Polled every 2 s: on a loaded node an answer can come after the next one, and must not
  // replace it.
  const asked = useRef(0);
  const shown = useRef(0);
  const load = () => {
    const order = ++asked.current;
    call('console_node', []).then(
      (r) => {
        if (order < shown.current) return;
        shown.current = order;
        setN(r);
      },
      (e) => onError(e.message),
    );
  };
  useEffect(() => {
    load();
    const t = setInterval(load, 2000);
    return () => clearInterval(t);
  }, []);
  if (n === null) return html`<section><p class="muted">Loading…</p></section>`;
  const lagOf = (stream) => n.lag.find((l) => l.stream === stream);
  const cap = n.executor.concurrency ?? Infinity;
  const slots = {
    busy: Math.min(n.executor.inFlight, cap),
    queued: Math.max(0, n.executor.inFlight - cap),
  };
  return html`<section class="node">
    <div class="toolbar">
      <h1>Node</h1>
      <code class="muted">${n.nodeId}</code>
    </div>
    <div class="cards">
      <div class="card">
        <div class="big" id="memo-entries">${n.memo.entries}</div>
        memo entries
      </div>
      <div class="card">
        <div class="big">${(n.memo.hitRatio * 100).toFixed(1)}%</div>
        memo hit ratio
      </div>
      <div
        class="card"
        title="tasks released without a receipt yet, against the executor's concurrency"
      >
        <div class="big">
          ${slots.busy}${n.executor.concurrency ? ` / ${n.executor.concurrency}` : ''}
        </div>
        executor slots in use${slots.queued > 0 ? ` · ${slots.queued} queued` : ''}
      </div>
      <div class="card">
        <div class="big">${n.workflows.running}</div>
        running workflows
      </div>
      <div class="card">
        <div class="big">${n.deadLettersTotal}</div>
        dead letters
      </div>
    </div>
    <h2>Tasks per second</h2>
    <${RateChart} rate=${n.rate} />
    <h2>Streams</h2>
    <table class="list" id="streams">
      <thead>
        <tr>
          <th>stream</th>
          <th>records</th>
          <th>next offset per partition</th>
          <th>consumer lag</th>
        </tr>
      </thead>
      <tbody>
        ${n.streams.map((s) => {
          const lag = lagOf(s.stream);
          return html`<tr>
            <td><code>${s.stream}</code></td>
            <td class="num">${s.records}</td>
            <td>
              <code
                >${
                  Object.entries(s.partitions)
                    .map(([p, o]) => `${p}:${o}`)
                    .join('  ') || '—'
                }</code
              >
            </td>
            <td>${lag ? `${lag.consumer}: ${lag.records}` : '—'}</td>
          </tr>`;
        })}
      </tbody>
    </table>
    <h2>Dead letters</h2>
    ${
      n.deadLetters.length === 0
        ? html`<p class="muted">None.</p>`
        : html`<table class="list" id="dead-letters">
            <thead>
              <tr>
                <th>at</th>
                <th>from</th>
                <th>reason</th>
              </tr>
            </thead>
            <tbody>
              ${n.deadLetters.map(
                (d) =>
                  html`<tr>
                    <td>${time(d.at)}</td>
                    <td><code>${d.stream}/${d.partition}@${d.offset}</code></td>
                    <td class="error">${d.reason}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }
  </section>`;
}
