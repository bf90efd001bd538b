/**
 * Secrets inside an HTTP effect. An effect's `input.headers` values and its `input.body` (the
 * whole body, or any value inside a JSON body) may be `{"secret": "NAME"}`. The request is
 * built and recorded (the outbox's intent) with those references in place; the values replace
 * them only here, in {@link sealRequest}, at the moment of the request — so no intent,
 * receipt, idempotency key or log line holds a secret's value, and error messages are scrubbed
 * of the values that went out ({@link scrubSecrets}).
 *
 * @module
 */
import { dagJson } from '../../schemas/codecs.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { resolveSecrets, secretName, secretsIn } from '../auth/taint.ts';
import type { HttpRequest } from './http-client.ts';

/** A header value or body naming a node-local secret. */
export interface SecretRef {
  secret: string;
}

/** What the effect runner may know of a secret: its value and the hosts it may go to. */
export type SecretLookup = (name: string) => { value: string; allowHosts: readonly string[] };

/**
 * A request as built from an effect's input and recorded in the outbox: header values may be
 * {@link SecretRef}s, and a body naming a secret is kept as its value (`bodyValue`), encoded
 * only when it is sent.
 */
export interface RequestTemplate {
  method: string;
  url: string;
  headers: Record<string, string | SecretRef>;
  /** The body's bytes, when it names no secret. */
  body?: Uint8Array;
  /** The body as given, when it names a secret: encoded by {@link sealRequest}. */
  bodyValue?: IpldValue;
}

/** A request with every secret resolved, and what the caller must enforce and scrub. */
export interface SealedRequest {
  request: HttpRequest;
  /** The secrets it carries (empty: an ordinary request). */
  names: string[];
  /** Their values, to scrub from anything said about the request. */
  values: string[];
}

/** The secret names a template carries. */
export function templateSecrets(t: RequestTemplate): string[] {
  const names = secretsIn(t.headers);
  if (t.bodyValue !== undefined) secretsIn(t.bodyValue, names);
  return [...names];
}

/** The body of a template whose input body names a secret: its content type. */
export function secretBodyType(body: IpldValue): string {
  // `{"secret": NAME}` itself stands for a string; a map or list holding one is JSON.
  return secretName(body) !== undefined ? 'text/plain; charset=utf-8' : 'application/json';
}

/**
 * Resolves a template's secrets. Throws a plain `Error` naming the secret (never its value)
 * when the lookup is missing, the secret unknown, or the URL's host not allowed for it.
 */
export function sealRequest(t: RequestTemplate, lookup: SecretLookup | undefined): SealedRequest {
  const names = templateSecrets(t);
  const { method, url } = t;
  if (names.length === 0)
    return {
      request: { method, url, headers: t.headers as Record<string, string>, body: t.body },
      names,
      values: [],
    };
  if (lookup === undefined)
    throw new Error(
      `names secret ${JSON.stringify(names[0])}, which only a node-local workflow may use`,
    );
  const host = new URL(url).host;
  const values = new Map<string, string>();
  for (const name of names) {
    const entry = lookup(name);
    if (!entry.allowHosts.includes(host))
      throw new Error(`secret ${JSON.stringify(name)} is not allowed to go to ${host}`);
    values.set(name, entry.value);
  }
  const value = (name: string): string => values.get(name)!;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(t.headers))
    headers[k] = typeof v === 'string' ? v : value(v.secret);
  let body = t.body;
  if (t.bodyValue !== undefined) {
    const resolved = resolveSecrets(t.bodyValue, value);
    body =
      typeof resolved === 'string'
        ? new TextEncoder().encode(resolved)
        : resolved instanceof Uint8Array
          ? resolved
          : dagJson.encode(resolved);
  }
  return { request: { method, url, headers, body }, names, values: [...values.values()] };
}

/** `text` with every secret value replaced by `[secret]`. */
export function scrubSecrets(text: string, values: readonly string[]): string {
  let out = text;
  for (const v of values) if (v !== '') out = out.split(v).join('[secret]');
  return out;
}
