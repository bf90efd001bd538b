// Effect step overhead, beside a raw HTTP request to the same local server in the same run.
//
//   node bench/effects.bench.ts [--n 300] [--fsync batch|none]
//
// Figures (p50 and p90, sequential, one request at a time, keep-alive everywhere):
// - raw: Node's global fetch and undici's request, GET to a node:http server on loopback — the floor;
// - the effect runner alone (allow-list, connected-address check, size cap, result value);
// - a durable pure effect step: a one-task workflow `http/get` (fresh nonce each time) submitted
//   to a node on the embedded file log, until its end event — memo, schedule, execute, receipt
//   append on effects.pure;
// - a durable managed effect step: `http/post` — the same plus the outbox intent appended
//   (durable) before the request;
// - a memoized GET (same instruction again): the network is not touched.
// The machine is shared (2 cores): the load average is printed with the figures.
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { request as undiciRequest } from 'undici';
import { createFileLog } from '../streams/file/index.ts';
import { createNode } from '../processors/engine/node.ts';
import {
  createEffectRunner,
  createHttpClient,
  parseAllowList,
} from '../processors/effects/index.ts';
import { parseWorkflow } from '../schemas/model.ts';
import type { IpldValue } from '../schemas/ipld.ts';
import { createCoreRunner } from '../test/harness/core-runner.ts';

const argv = process.argv.slice(2);
const arg = (name: string, def: string): string =>
  argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1]! : def;
const N = Number(arg('n', '300'));
const FSYNC = arg('fsync', 'batch');

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))]!;
};
const us = (ms: number): string => `${(ms * 1000).toFixed(0)} µs`;
const line = (label: string, xs: number[]): void =>
  console.log(
    `${label.padEnd(52)} ${us(pct(xs, 50)).padStart(10)} ${us(pct(xs, 90)).padStart(10)}`,
  );

async function time(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(50, n); i++) await fn(-1 - i);
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    ts.push(performance.now() - t);
  }
  return ts;
}

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
    res.end('{"value":41}');
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;
const base = `http://127.0.0.1:${port}`;
const dir = mkdtempSync(join(tmpdir(), 'ipvm-bench-effects-'));

console.log(
  `effects bench: n=${N}, fsync=${FSYNC}, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log(`${'scenario'.padEnd(52)} ${'p50'.padStart(10)} ${'p90'.padStart(10)}`);
try {
  line(
    'raw fetch() GET (floor)',
    await time(N * 4, async () => (await fetch(`${base}/doc`)).json()),
  );
  line(
    'raw undici request() GET (floor)',
    await time(N * 4, async () => (await undiciRequest(`${base}/doc`)).body.json()),
  );
  const effects = createEffectRunner({
    http: createHttpClient({ allow: parseAllowList(`127.0.0.1:${port}`) }),
  });
  line(
    'effect runner http/get (no log)',
    await time(N * 4, () =>
      effects.run({
        op: 'http/get',
        rsc: `${base}/doc`,
        input: { response: 'json' },
        instruction: 'b',
      }),
    ),
  );
  const log = createFileLog({
    dir: join(dir, 'log'),
    fsync: FSYNC === 'none' ? 'none' : 'batch',
  });
  const node = await createNode({ log, runner: await createCoreRunner(), effects });
  const step = (op: string, input: IpldValue) => async (i: number) => {
    const wf = {
      tasks: [
        { run: { rsc: `${base}/doc`, op, input, nnc: `n${i}` }, cause: null, meta: {}, prf: [] },
      ],
    };
    const cid = parseWorkflow(wf).cid;
    await node.submit(wf);
    const end = await node.ended(cid);
    if (end.type !== 'workflow/completed') throw new Error(`step failed: ${end.reason}`);
  };
  line('durable pure effect step (http/get → effects.pure)', await time(N, step('http/get', {})));
  line(
    'durable managed effect step (http/post, outbox)',
    await time(N, step('http/post', { body: { v: 1 } })),
  );
  const memoized = step('http/get', {});
  await memoized(0);
  line('memoized http/get (no request)', await time(N, () => memoized(0)));
  await node.close();
  await effects.close();
  await log.close();
} finally {
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
