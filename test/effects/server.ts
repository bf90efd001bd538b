// A small real HTTP server for effect tests: counts requests, honours Idempotency-Key on POST.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Seen {
  method: string;
  path: string;
  key: string | undefined;
  body: string;
  /** Request headers as received (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
}

export interface TestServer {
  port: number;
  base: string;
  seen: Seen[];
  /** Bodies applied per Idempotency-Key (a key applied twice would show two entries). */
  applied: Map<string, string[]>;
  count(method: string, path: string): number;
  /** Called for every request once it is recorded (and applied), before the response. */
  onRequest: ((seen: Seen) => void) | undefined;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the server on a free loopback port. */
export async function startTestServer(): Promise<TestServer> {
  const seen: Seen[] = [];
  const applied = new Map<string, string[]>();
  const flaky = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const url = new URL(req.url ?? '/', 'http://x');
      const key = req.headers['idempotency-key'] as string | undefined;
      const entry = {
        method: req.method ?? '',
        path: url.pathname,
        key,
        body,
        headers: req.headers,
      };
      seen.push(entry);
      const json = (status: number, value: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(value));
      };
      if (url.pathname === '/doc') return json(200, { value: 41 });
      if (url.pathname === '/text') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end('hello');
      }
      // A careless server: its error repeats the credentials it was sent.
      if (url.pathname === '/echo-auth')
        return json(400, { rejected: req.headers.authorization ?? null });
      // Sends the client to the same path on another origin (`localhost` for `127.0.0.1`).
      if (url.pathname === '/away') {
        res.writeHead(302, { location: `http://localhost:${out.port}/private/away` });
        return res.end();
      }
      // Answers without repeating anything of the request (credentials stay with the server).
      if (url.pathname.startsWith('/private'))
        return json(200, { authorized: req.headers.authorization !== undefined });
      if (url.pathname === '/missing') return json(404, { error: 'no such item' });
      if (url.pathname === '/flaky' || url.pathname === '/rate') {
        const n = (flaky.get(url.pathname) ?? 0) + 1;
        flaky.set(url.pathname, n);
        if (n <= 2)
          return url.pathname === '/rate'
            ? json(429, { error: 'slow down' }, { 'retry-after': '0' })
            : json(503, { error: 'try later' });
        return json(200, { attempts: n });
      }
      if (url.pathname === '/slow') {
        setTimeout(() => json(200, { late: true }), 2_000).unref();
        return;
      }
      if (url.pathname === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        return res.end(Buffer.alloc(2 * 1024 * 1024, 1));
      }
      if (url.pathname === '/redirect') {
        res.writeHead(302, { location: '/doc' });
        return res.end();
      }
      if (url.pathname === '/loop') {
        res.writeHead(302, { location: '/loop' });
        return res.end();
      }
      if (url.pathname.startsWith('/items') && req.method !== 'GET') {
        if (key !== undefined) {
          const list = applied.get(key) ?? [];
          if (!list.includes(body)) list.push(body);
          applied.set(key, list);
        }
        out.onRequest?.(entry);
        return json(201, { stored: body });
      }
      return json(404, { error: 'unknown path' });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const out: TestServer = {
    port,
    base: `http://127.0.0.1:${port}`,
    seen,
    applied,
    count: (method, path) => seen.filter((s) => s.method === method && s.path === path).length,
    onRequest: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return out;
}
