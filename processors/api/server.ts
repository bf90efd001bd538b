/**
 * The API server: JSON-RPC 2.0 over HTTP (`POST /`) and WebSocket (any path), like Homestar's
 * webserver, plus plain HTTP `GET` routes:
 *
 * | route | answer |
 * |---|---|
 * | `GET /health` | `{"healthy": true}` (503 when unhealthy) |
 * | `GET /metrics` | Prometheus text exposition |
 * | `GET /node` | the `node` method's result |
 * | `GET /rpc_discover` | the OpenRPC document |
 *
 * Loopback only unless told otherwise: the API can run arbitrary workflows. Every route passes
 * `guard.ts` first (Host and Origin allow-lists, no wildcard CORS, per-connection limits).
 *
 * @example
 * ```ts
 * const api = await createApiServer({ node, metrics, port: 1337 });
 * console.log(api.url); // ws://127.0.0.1:1337
 * await api.close();
 * ```
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../logger.ts';
import { ApiListenError, RPC_ERROR } from './errors.ts';
import { createGuard, type GuardInit } from './guard.ts';
import { createRpcHandler, nodeInfo, type RpcHandlerInit, type RpcSession } from './rpc.ts';
import type { ConsoleFiles } from './console-static.ts';
import { openRpcDocument } from './openrpc.ts';
import { DEFAULT_API_HOST, HOMESTAR_DEFAULT_PORT } from './defaults.ts';

export { DEFAULT_API_HOST, HOMESTAR_DEFAULT_PORT };

/** Construction options of {@link createApiServer}. */
export interface ApiServerInit
  extends Omit<RpcHandlerInit, 'listeners' | 'maxSubscriptionsPerConnection'>, GuardInit {
  /** Address to bind. @default {@link DEFAULT_API_HOST} */
  host?: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** Largest request (HTTP body or WebSocket message) in bytes. @default 16 MiB */
  maxRequestBytes?: number;
  /** Logger (component `api`). */
  logger?: Logger;
  /** The console's files (`GET /` and its assets); absent: no console. */
  consoleFiles?: ConsoleFiles;
  signal?: AbortSignal;
}

/** A listening API server. */
export interface ApiServer extends AsyncDisposable {
  /** The bound port (useful with `port: 0`). */
  readonly port: number;
  /** The bound host. */
  readonly host: string;
  /** `ws://host:port` — where WebSocket clients connect. */
  readonly url: string;
  /** `http://host:port`. */
  readonly httpUrl: string;
  /** Open WebSocket connections. */
  readonly connections: number;
  /** Stops accepting, ends subscriptions, closes connections. Idempotent. */
  close(): Promise<void>;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

async function readBody(req: IncomingMessage, max: number): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) return null;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the server; resolves once it listens. */
export async function createApiServer(init: ApiServerInit): Promise<ApiServer> {
  const host = init.host ?? DEFAULT_API_HOST;
  const maxBytes = init.maxRequestBytes ?? 16 * 1024 * 1024;
  const logger = init.logger;
  let urls: string[] = [];
  const guard = createGuard({ ...init, boundHost: host });
  const rpc = createRpcHandler({
    ...init,
    maxRequestBytes: maxBytes,
    maxSubscriptionsPerConnection: guard.maxSubscriptionsPerConnection,
    listeners: () => urls,
  });
  const sockets = new Set<WebSocket>();

  const sendJson = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };

  const onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    // Every route goes through the guard: Host and Origin allow-lists, CORS for allowed
    // origins only.
    const verdict = guard.check(req);
    if (!verdict.ok) {
      logger?.warn({ host: req.headers.host, origin: req.headers.origin }, verdict.reason);
      sendJson(res, verdict.status, { error: verdict.reason });
      return;
    }
    for (const [k, v] of Object.entries(verdict.headers)) res.setHeader(k, v);
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'GET') {
      switch (path) {
        case '/health': {
          const healthy =
            init.health === undefined
              ? true
              : await init.health({ signal: AbortSignal.timeout(5_000) }).catch(() => false);
          sendJson(res, healthy ? 200 : 503, { healthy });
          return;
        }
        case '/metrics': {
          if (init.metrics === undefined) {
            res.writeHead(404).end();
            return;
          }
          const text = await init.metrics.render();
          res.writeHead(200, { 'content-type': init.metrics.contentType });
          res.end(text);
          return;
        }
        case '/node':
          sendJson(res, 200, nodeInfo(init.node.nodeId, urls, init.p2p));
          return;
        case '/rpc_discover':
          sendJson(
            res,
            200,
            openRpcDocument(
              init.version ?? '0.1.0',
              (init.extensions ?? []).flatMap((e) => e.methods ?? []),
            ),
          );
          return;
        default:
          if (init.consoleFiles?.serve(req, res, path ?? '/') === true) return;
          sendJson(res, 404, { error: `no route GET ${path}; JSON-RPC is POST / or a WebSocket` });
          return;
      }
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'GET, POST, OPTIONS' }).end();
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    const body = declared > maxBytes ? null : await readBody(req, maxBytes);
    if (body === null) {
      sendJson(res, 413, {
        jsonrpc: '2.0',
        error: { code: -32600, message: `request larger than ${maxBytes} bytes` },
        id: null,
      });
      return;
    }
    const replies: string[] = [];
    const session: RpcSession = { streaming: false, send: (text) => replies.push(text) };
    await rpc.handle(body, session);
    if (replies.length === 0) {
      res.writeHead(204).end();
      return;
    }
    const text = replies.join('\n');
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };

  const server = createServer((req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      logger?.error({ err }, 'HTTP request failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxBytes });
  server.on('upgrade', (req, socket, head) => {
    const verdict = guard.check(req);
    if (!verdict.ok) {
      logger?.warn({ host: req.headers.host, origin: req.headers.origin }, verdict.reason);
      socket.end(
        `HTTP/1.1 ${verdict.status} Refused\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\n${verdict.reason}\n`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    sockets.add(ws);
    const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
    logger?.debug({ remote }, 'websocket connected');
    const session: RpcSession = {
      streaming: true,
      send: (text) => {
        if (ws.readyState === ws.OPEN) ws.send(text);
      },
    };
    let inFlight = 0;
    ws.on('message', (data, isBinary) => {
      if (inFlight >= guard.maxInFlightPerConnection) {
        session.send(
          JSON.stringify({
            jsonrpc: '2.0',
            error: {
              code: RPC_ERROR.serverBusy,
              message: `too many requests in flight on this connection (at most ${guard.maxInFlightPerConnection})`,
            },
            id: null,
          }),
        );
        return;
      }
      const text = isBinary
        ? Buffer.from(data as Buffer).toString('utf8')
        : (data as Buffer).toString('utf8');
      inFlight++;
      rpc
        .handle(text, session)
        .catch((err: unknown) => logger?.error({ err }, 'websocket message failed'))
        .finally(() => inFlight--);
    });
    ws.on('close', () => {
      sockets.delete(ws);
      rpc.closeSession(session);
      logger?.debug({ remote }, 'websocket closed');
    });
    ws.on('error', (err) => logger?.warn({ err, remote }, 'websocket error'));
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(new ApiListenError(host, init.port, { cause: err }));
    server.once('error', onError);
    server.listen(init.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const url = `ws://${hostForUrl(host)}:${port}`;
  const httpUrl = `http://${hostForUrl(host)}:${port}`;
  urls = [url];
  logger?.info({ url, http: httpUrl }, 'JSON-RPC API listening');

  let closing: Promise<void> | undefined;
  const api: ApiServer = {
    port,
    host,
    url,
    httpUrl,
    get connections() {
      return sockets.size;
    },
    close() {
      closing ??= (async () => {
        rpc.close();
        for (const ws of sockets) ws.close(1001, 'server closing');
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        // Sockets that did not finish the closing handshake are cut.
        for (const ws of sockets) ws.terminate();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closing;
    },
    [Symbol.asyncDispose]() {
      return api.close();
    },
  };
  init.signal?.addEventListener('abort', () => void api.close(), { once: true });
  return api;
}
