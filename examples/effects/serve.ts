// The effects example's local server, and a wrapper that runs an ipvm command against it:
//
//   node examples/effects/serve.ts [--port 47781] -- run examples/workflows/fetch-transform-post.json --allow-net 127.0.0.1:47781
//   node examples/effects/serve.ts --port 47781                    (serve until Ctrl-C)
//
// GET /doc answers {"value": 20}; POST /results stores the body under its Idempotency-Key (a
// key seen before is answered again without storing anything: what a server honouring the key
// does) and GET /results lists what was stored. What the server received is printed on stderr.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const dash = argv.indexOf('--');
const own = dash < 0 ? argv : argv.slice(0, dash);
const command = dash < 0 ? [] : argv.slice(dash + 1);
const port = own.includes('--port') ? Number(own[own.indexOf('--port') + 1]) : 47781;

const stored = new Map<string, unknown>();
let requests = 0;
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    requests++;
    const body = Buffer.concat(chunks).toString('utf8');
    const key = req.headers['idempotency-key'];
    console.error(
      `server: ${req.method} ${req.url}${typeof key === 'string' ? ` (Idempotency-Key ${key})` : ''}${body === '' ? '' : ` ${body}`}`,
    );
    const reply = (status: number, value: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    if (req.method === 'GET' && req.url === '/doc') return reply(200, { value: 20 });
    if (req.method === 'GET' && req.url === '/results')
      return reply(200, Object.fromEntries(stored));
    if (req.method === 'POST' && req.url === '/results') {
      if (typeof key !== 'string') return reply(400, { error: 'Idempotency-Key required' });
      const replay = stored.has(key);
      if (!replay) stored.set(key, JSON.parse(body) as unknown);
      return reply(replay ? 200 : 201, { key, stored: stored.get(key), replay });
    }
    reply(404, { error: `no ${req.method} ${req.url}` });
  });
});
await new Promise<void>((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
console.error(`server: listening on http://127.0.0.1:${port}`);

if (command.length > 0) {
  const bin = join(import.meta.dirname, '..', '..', 'cli', 'bin.js');
  const child = spawn(process.execPath, [bin, ...command], { stdio: 'inherit' });
  const code = await new Promise<number>((resolve) =>
    child.on('exit', (c, signal) => resolve(c ?? (signal === null ? 1 : 128))),
  );
  console.error(
    `server: ${requests} request(s) received; stored ${JSON.stringify(Object.fromEntries(stored))}`,
  );
  server.closeAllConnections();
  server.close();
  process.exitCode = code;
}
