/**
 * Runs one effect: HTTP through the {@link HttpClient}, `random/bytes` and `time/now` locally.
 * Terminal failures resolve `ok: false` (bad input, refused, 4xx, timeout, too large); retryable
 * ones (connection errors, 5xx, 408, 429 with its `Retry-After`) reject with a retryable
 * {@link EffectError}, so the executor retries them through `processors/retry.ts`.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { dagJson } from '../../schemas/codecs.ts';
import { isIpldMap, type IpldMap, type IpldValue } from '../../schemas/ipld.ts';
import type { RunResult } from '../engine/execute-tasks.ts';
import { EffectError } from './errors.ts';
import type { HttpClient, HttpRequest } from './http-client.ts';
import {
  scrubSecrets,
  sealRequest,
  secretBodyType,
  type RequestTemplate,
  type SecretLookup,
} from './secret-request.ts';
import { secretName, secretsIn } from '../auth/taint.ts';

/** One effect to run: the instruction with its awaits already resolved. */
export interface EffectCall {
  op: string;
  rsc: string;
  /** The instruction's `input`, awaits replaced by their values. */
  input: IpldValue;
  /** Instruction CID, for located errors. */
  instruction: string;
  /** `meta.time`, the limit of the whole call. */
  timeMs?: number;
}

/** How a response body is handed on (`input.response`). */
export type ResponseDecoding = 'bytes' | 'text' | 'json';

/** The effect runner. */
export interface EffectRunner {
  /**
   * The request an HTTP op sends, built from its input (the outbox records it before sending),
   * secrets still named, never resolved (see `secret-request.ts`).
   * @throws {EffectError} kind `bad-input` (terminal)
   */
  request(call: EffectCall): RequestTemplate;
  /**
   * Sends a request built by {@link EffectRunner.request} — its secrets resolved at this
   * moment, a redirect to another origin then refused — and classifies the response.
   */
  send(
    call: EffectCall,
    req: RequestTemplate,
    options?: { signal?: AbortSignal },
  ): Promise<RunResult>;
  /** Runs a non-HTTP effect (`random/bytes`, `time/now`) or builds and sends an HTTP one. */
  run(call: EffectCall, options?: { signal?: AbortSignal }): Promise<RunResult>;
  close(): Promise<void>;
}

/** Construction options of {@link createEffectRunner}. */
export interface EffectRunnerInit {
  http: HttpClient;
  /** @default node:crypto randomBytes */
  random?: (length: number) => Uint8Array;
  /** @default Date.now */
  clock?: () => number;
  /**
   * Resolves `{"secret": NAME}` in headers and bodies (the node-local engine only). Without
   * it, a request naming a secret is refused.
   */
  secrets?: SecretLookup;
}

/** Largest `random/bytes` length. */
export const MAX_RANDOM_BYTES = 65_536;

const METHODS: Record<string, string> = {
  'http/get': 'GET',
  'http/head': 'HEAD',
  'http/post': 'POST',
  'http/put': 'PUT',
  'http/patch': 'PATCH',
  'http/delete': 'DELETE',
};

export function createEffectRunner(init: EffectRunnerInit): EffectRunner {
  const random = init.random ?? ((n: number) => new Uint8Array(randomBytes(n)));
  const clock = init.clock ?? Date.now;

  const badInput = (call: EffectCall, why: string): EffectError =>
    new EffectError(METHODS[call.op] ?? call.op, `bad input: ${why}`, {
      instruction: call.instruction,
      url: call.rsc,
      kind: 'bad-input',
    });

  function request(call: EffectCall): RequestTemplate {
    const method = METHODS[call.op];
    if (method === undefined) throw badInput(call, `${call.op} is not an HTTP op`);
    let url: URL;
    try {
      url = new URL(call.rsc);
    } catch {
      throw badInput(call, 'rsc is not a URL');
    }
    const input: IpldMap = isIpldMap(call.input) ? call.input : {};
    if (!isIpldMap(call.input) && call.input !== null)
      throw badInput(call, 'input must be a map ({headers?, body?, response?})');
    if (
      input.response !== undefined &&
      !['bytes', 'text', 'json'].includes(input.response as string)
    )
      throw badInput(call, 'input.response must be "bytes", "text" or "json"');
    const headers: RequestTemplate['headers'] = {};
    if (input.headers !== undefined) {
      if (!isIpldMap(input.headers)) throw badInput(call, 'input.headers must be a map');
      for (const [k, v] of Object.entries(input.headers)) {
        const secret = secretName(v);
        if (typeof v !== 'string' && secret === undefined)
          throw badInput(call, `input.headers.${k} must be a string or {"secret": NAME}`);
        headers[k.toLowerCase()] = secret === undefined ? (v as string) : { secret };
      }
    }
    let body: Uint8Array | undefined;
    const b = input.body;
    if (b !== undefined) {
      if (method === 'GET' || method === 'HEAD')
        throw badInput(call, `input.body: ${call.op} takes no body`);
      if (secretsIn(b).size > 0) {
        headers['content-type'] ??= secretBodyType(b);
        return { method, url: url.toString(), headers, bodyValue: b };
      }
      if (typeof b === 'string') {
        body = new TextEncoder().encode(b);
        headers['content-type'] ??= 'text/plain; charset=utf-8';
      } else if (b instanceof Uint8Array) {
        body = b;
        headers['content-type'] ??= 'application/octet-stream';
      } else {
        body = dagJson.encode(b);
        headers['content-type'] ??= 'application/json';
      }
    }
    return { method, url: url.toString(), headers, body };
  }

  /** Sends a template; whatever is said about it is scrubbed of the secrets it carried. */
  async function send(
    call: EffectCall,
    template: RequestTemplate,
    options?: { signal?: AbortSignal },
  ): Promise<RunResult> {
    let sealed;
    try {
      sealed = sealRequest(template, init.secrets);
    } catch (err) {
      throw new EffectError(template.method, `refused: ${(err as Error).message}`, {
        instruction: call.instruction,
        url: template.url,
        kind: 'refused',
      });
    }
    if (sealed.values.length === 0) return sendSealed(call, sealed.request, false, options);
    try {
      const result = await sendSealed(call, sealed.request, true, options);
      if (result.ok) return result;
      const message = scrubSecrets(result.error.message, sealed.values);
      return { ...result, error: { ...result.error, message } };
    } catch (err) {
      if (err instanceof Error) err.message = scrubSecrets(err.message, sealed.values);
      throw err;
    }
  }

  async function sendSealed(
    call: EffectCall,
    req: HttpRequest,
    sameOrigin: boolean,
    options?: { signal?: AbortSignal },
  ): Promise<RunResult> {
    const started = performance.now();
    const decoding = responseDecoding(call);
    const res = await init.http.send(req, {
      instruction: call.instruction,
      timeoutMs: call.timeMs,
      signal: options?.signal,
      sameOrigin,
    });
    const durationMs = performance.now() - started;
    const located = (why: string, kind: 'http' | 'decode', extra = {}) =>
      new EffectError(req.method, why, {
        instruction: call.instruction,
        url: res.url,
        kind,
        status: res.status,
        ...extra,
      });
    if (res.status === 429 || res.status === 408 || res.status >= 500) {
      throw located(`${res.status} ${snippet(res.body)}`, 'http', {
        retryable: true,
        retryAfterMs: retryAfterMs(res.headers['retry-after'], clock()),
      });
    }
    if (res.status >= 400) {
      const e = located(`${res.status} ${snippet(res.body)}`, 'http');
      return { ok: false, error: { kind: 'http', message: e.message }, fuel: 0, durationMs };
    }
    let body: IpldValue = res.body;
    try {
      if (decoding === 'text') body = new TextDecoder('utf-8', { fatal: true }).decode(res.body);
      if (decoding === 'json') body = JSON.parse(new TextDecoder().decode(res.body)) as IpldValue;
    } catch (err) {
      const e = located(`body is not ${decoding}: ${(err as Error).message}`, 'decode');
      return { ok: false, error: { kind: 'decode', message: e.message }, fuel: 0, durationMs };
    }
    return {
      ok: true,
      value: { status: res.status, headers: res.headers, body },
      fuel: 0,
      durationMs,
    };
  }

  async function run(call: EffectCall, options?: { signal?: AbortSignal }): Promise<RunResult> {
    try {
      if (call.op === 'time/now') return { ok: true, value: clock(), fuel: 0, durationMs: 0 };
      if (call.op === 'random/bytes') {
        const length = isIpldMap(call.input) ? call.input.length : undefined;
        if (
          typeof length !== 'number' ||
          !Number.isInteger(length) ||
          length < 1 ||
          length > MAX_RANDOM_BYTES
        )
          throw badInput(call, `input.length must be an integer 1–${MAX_RANDOM_BYTES}`);
        return { ok: true, value: random(length), fuel: 0, durationMs: 0 };
      }
      return await send(call, request(call), options);
    } catch (err) {
      return terminal(err);
    }
  }

  return {
    request,
    send: async (call, req, options) => {
      try {
        return await send(call, req, options);
      } catch (err) {
        return terminal(err);
      }
    },
    run,
    close: () => init.http.close(),
  };
}

/** Terminal effect errors become `ok: false`; anything retryable is thrown on. */
function terminal(err: unknown): RunResult {
  if (err instanceof EffectError && !err.retryable)
    return { ok: false, error: { kind: err.kind, message: err.message }, fuel: 0, durationMs: 0 };
  throw err;
}

function responseDecoding(call: EffectCall): ResponseDecoding {
  const r = isIpldMap(call.input) ? call.input.response : undefined;
  return r === 'text' || r === 'json' ? r : 'bytes';
}

function snippet(body: Uint8Array): string {
  const text = new TextDecoder().decode(body.subarray(0, 200)).replace(/\s+/g, ' ').trim();
  return text === '' ? '' : `(${text}${body.byteLength > 200 ? '…' : ''})`;
}

/** `Retry-After` as ms: delta seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
