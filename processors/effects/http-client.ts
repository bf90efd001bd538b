/**
 * The HTTP client of effects, over undici (imported only in this folder). It enforces the
 * allow-list on every hop and on the address each connection actually reached, a response size
 * cap, a time limit per call and a bounded number of redirects. It throws {@link EffectError}s
 * for transport failures and returns every response, whatever its status: the caller classifies
 * statuses. undici (~25 MiB resident once loaded) is imported on the first request: a node that
 * never calls out does not carry it.
 *
 * @module
 */
import type { Agent, buildConnector, request } from 'undici';
import type { AllowList } from './allow-list.ts';
import { EffectError } from './errors.ts';

/** One request. */
export interface HttpRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: Uint8Array;
}

/** A response, body read in full (up to the cap). */
export interface HttpResponse {
  status: number;
  /** Lower-case names; repeated headers joined with `, `; hop-by-hop and `date` left out. */
  headers: Record<string, string>;
  body: Uint8Array;
  /** The URL that answered (after redirects). */
  url: string;
}

/** Per-call options of {@link HttpClient.send}. */
export interface HttpSendOptions {
  /** Instruction CID, for located errors. */
  instruction: string;
  /** Time limit of the whole call, redirects included. @default the client's `timeoutMs` */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Refuse a redirect to another origin (the request carries a secret, allowed for its host
   * only). @default false
   */
  sameOrigin?: boolean;
}

/** The client. */
export interface HttpClient {
  send(req: HttpRequest, options: HttpSendOptions): Promise<HttpResponse>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Construction options of {@link createHttpClient}. */
export interface HttpClientInit {
  allow: AllowList;
  /** Largest response body. @default 10 MiB */
  maxBodyBytes?: number;
  /** Redirects followed per call. @default 5 */
  maxRedirects?: number;
  /** Time limit of a call without `meta.time`. @default 30_000 */
  timeoutMs?: number;
  /** @default 10_000 */
  connectTimeoutMs?: number;
}

/** @default 10 MiB */
export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
/** @default 5 */
export const DEFAULT_MAX_REDIRECTS = 5;
/** @default 30_000 */
export const DEFAULT_TIMEOUT_MS = 30_000;

const DROPPED_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding']);
const REFUSED = Symbol('refused');
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_CLOSED',
]);

/** Creates a client; {@link HttpClient.close} closes its connections. */
export function createHttpClient(init: HttpClientInit): HttpClient {
  const { allow } = init;
  const maxBody = init.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxRedirects = init.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  let loaded: Promise<{ agent: Agent; request: typeof request }> | undefined;
  let agent: Agent | undefined;
  const undici = (): Promise<{ agent: Agent; request: typeof request }> =>
    (loaded ??= import('undici').then((u) => {
      const base = u.buildConnector({ timeout: init.connectTimeoutMs ?? 10_000 });
      // The check on the connected address: what a name resolved to, at the moment it was used.
      const connect: buildConnector.connector = (opts, callback) => {
        base(opts, (err, socket) => {
          if (err !== null) return callback(err, null);
          const address = socket.remoteAddress ?? '';
          const host = opts.hostname.includes(':') ? `[${opts.hostname}]` : opts.hostname;
          const url = new URL(`${opts.protocol}//${host}:${opts.port}`);
          const verdict = allow.checkAddress(url, address);
          if (verdict.ok) return callback(null, socket);
          socket.destroy();
          callback(Object.assign(new Error(verdict.reason), { [REFUSED]: true }), null);
        });
      };
      agent = new u.Agent({ connect, maxResponseSize: maxBody + 1 });
      return { agent, request: u.request };
    }));
  const close = async (): Promise<void> => {
    if (loaded === undefined) return;
    await loaded.catch(() => undefined);
    await agent?.close();
  };

  async function hop(
    req: HttpRequest,
    options: HttpSendOptions,
    signal: AbortSignal,
  ): Promise<{ status: number; headers: Record<string, string>; body: Uint8Array }> {
    const fail = (
      kind: 'connection' | 'too-large' | 'timeout' | 'refused',
      why: string,
      cause?: unknown,
    ) =>
      new EffectError(req.method, why, {
        instruction: options.instruction,
        url: req.url,
        kind,
        retryable: kind === 'connection',
        cause,
      });
    let res;
    try {
      const { agent, request } = await undici();
      res = await request(req.url, {
        dispatcher: agent,
        method: req.method as 'GET',
        headers: req.headers,
        body: req.body,
        signal,
      });
    } catch (err) {
      throw classify(err, signal, fail);
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined || DROPPED_HEADERS.has(name)) continue;
      headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const declared = Number(headers['content-length'] ?? NaN);
    if (declared > maxBody) {
      res.body.destroy();
      throw fail('too-large', `response body of ${declared} bytes exceeds the cap of ${maxBody}`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength;
        if (size > maxBody) {
          res.body.destroy();
          throw fail('too-large', `response body exceeds the cap of ${maxBody} bytes`);
        }
        chunks.push(chunk);
      }
    } catch (err) {
      if (err instanceof EffectError) throw err;
      throw classify(err, signal, fail);
    }
    return { status: res.statusCode, headers, body: concat(chunks, size) };
  }

  return {
    async send(first, options) {
      const timeoutMs = options.timeoutMs ?? init.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      const signal = AbortSignal.any([
        AbortSignal.timeout(timeoutMs),
        ...(options.signal === undefined ? [] : [options.signal]),
      ]);
      let req = first;
      for (let redirects = 0; ; redirects++) {
        const verdict = allow.checkUrl(new URL(req.url));
        if (!verdict.ok)
          throw new EffectError(req.method, `refused: ${verdict.reason}`, {
            instruction: options.instruction,
            url: req.url,
            kind: 'refused',
          });
        const res = await hop(req, options, signal);
        const location = res.headers.location;
        if (![301, 302, 303, 307, 308].includes(res.status) || location === undefined)
          return { ...res, url: req.url };
        if (redirects >= maxRedirects)
          throw new EffectError(req.method, `more than ${maxRedirects} redirects`, {
            instruction: options.instruction,
            url: req.url,
            kind: 'redirect',
          });
        const next = new URL(location, req.url).toString();
        if (options.sameOrigin === true && new URL(next).origin !== new URL(req.url).origin)
          throw new EffectError(
            req.method,
            `redirect to ${new URL(next).origin} refused: the request carries a secret`,
            { instruction: options.instruction, url: req.url, kind: 'redirect' },
          );
        // 303 (and 301/302 after a POST, as browsers do) continue as a GET without a body.
        const asGet =
          res.status === 303 ||
          ((res.status === 301 || res.status === 302) && req.method === 'POST');
        req = asGet
          ? { method: 'GET', url: next, headers: withoutBodyHeaders(req.headers) }
          : { ...req, url: next };
      }
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function classify(
  err: unknown,
  signal: AbortSignal,
  fail: (
    kind: 'connection' | 'too-large' | 'timeout' | 'refused',
    why: string,
    cause?: unknown,
  ) => EffectError,
): EffectError {
  const e = err as Error & { code?: string; [REFUSED]?: boolean };
  if (e[REFUSED] === true) return fail('refused', `refused: ${e.message}`, err);
  if (signal.aborted) {
    const reason = signal.reason as Error | undefined;
    if (reason?.name === 'TimeoutError') return fail('timeout', 'timed out', err);
    return fail('connection', `aborted: ${reason?.message ?? 'signal'}`, err);
  }
  if (e.code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE')
    return fail('too-large', 'response body exceeds the cap', err);
  if (e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT')
    return fail('timeout', `timed out (${e.code})`, err);
  const code = e.code ?? (e.cause as { code?: string } | undefined)?.code;
  if (code !== undefined && CONNECTION_CODES.has(code))
    return fail('connection', `connection failed: ${code} ${e.message}`, err);
  return fail('connection', `request failed: ${e.name}: ${e.message}`, err);
}

function withoutBodyHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers))
    if (!/^content-(type|length|encoding)$/i.test(k)) out[k] = v;
  return out;
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
