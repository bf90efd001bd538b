/**
 * The network allow-list, in Deno's `--allow-net` convention: `HOST[:PORT],…`. A host without
 * a port allows every port; IPv6 hosts are written in brackets (`[::1]:8080`). Nothing is
 * allowed by default.
 *
 * Two checks, both needed: the URL's host and port must match an entry, and the address the
 * client actually connected to must be public — or, when it is private, loopback or link-local,
 * named explicitly (the entry is that IP, or `localhost` for a loopback address). A public name
 * that resolves (or is rebound) to a private address is therefore refused.
 *
 * @module
 */
import { BlockList, isIP } from 'node:net';

/** One `HOST[:PORT]` entry. */
export interface AllowEntry {
  /** Lower-case host name, or an IP address without brackets. */
  host: string;
  /** The port, or undefined for every port. */
  port: number | undefined;
}

/** A parsed allow-list. */
export interface AllowList {
  readonly entries: readonly AllowEntry[];
  /** The entry a URL matches, or a reason it matches none. */
  checkUrl(this: void, url: URL): { ok: true } | { ok: false; reason: string };
  /** Whether a connection of `url` to `address` is allowed; a reason when not. */
  checkAddress(this: void, url: URL, address: string): { ok: true } | { ok: false; reason: string };
  /** The list as written (`a.example:443,127.0.0.1:8080`). */
  toString(this: void): string;
}

/** A bad `--allow-net` value. */
export class AllowListError extends Error {
  override name = 'AllowListError';
  readonly retryable = false;
}

const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  PRIVATE.addSubnet(net, prefix, 'ipv6');

/** Strips brackets and an IPv4-mapped IPv6 prefix (`::ffff:127.0.0.1` → `127.0.0.1`). */
function plainAddress(address: string): string {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  return mapped !== null ? mapped[1]! : a;
}

/** True for loopback, private, link-local, unspecified, CGNAT and multicast addresses. */
export function isPrivateAddress(address: string): boolean {
  const a = plainAddress(address);
  const family = isIP(a);
  if (family === 0) return false;
  return PRIVATE.check(a, family === 4 ? 'ipv4' : 'ipv6');
}

function isLoopback(address: string): boolean {
  const a = plainAddress(address);
  return a === '::1' || a.startsWith('127.');
}

function defaultPort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

function parseEntry(raw: string): AllowEntry {
  const text = raw.trim();
  let host: string;
  let port: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (v6 !== null) {
    host = v6[1]!;
    port = v6[2];
    if (isIP(host) !== 6) throw new AllowListError(`--allow-net ${raw}: not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon !== -1 && text.indexOf(':') !== colon)
      throw new AllowListError(`--allow-net ${raw}: write IPv6 addresses in brackets ([::1]:8080)`);
    host = colon === -1 ? text : text.slice(0, colon);
    port = colon === -1 ? undefined : text.slice(colon + 1);
  }
  host = plainAddress(host);
  if (host === '' || !/^[a-z0-9.:-]+$/.test(host))
    throw new AllowListError(`--allow-net ${raw}: expected HOST[:PORT]`);
  if (port === undefined) return { host, port: undefined };
  const n = Number(port);
  if (!/^\d+$/.test(port) || n < 1 || n > 65_535)
    throw new AllowListError(`--allow-net ${raw}: port must be 1–65535`);
  return { host, port: n };
}

/**
 * Parses `HOST[:PORT],…` (or a list of entries).
 * @throws {AllowListError} naming the bad entry
 * @example
 * ```ts
 * const allow = parseAllowList('api.example.com,127.0.0.1:8080');
 * allow.checkUrl(new URL('http://127.0.0.1:8080/x')); // { ok: true }
 * ```
 */
export function parseAllowList(list: string | readonly string[] | undefined): AllowList {
  const raw = list === undefined ? [] : typeof list === 'string' ? list.split(',') : [...list];
  const entries = raw.filter((s) => s.trim() !== '').map(parseEntry);
  const matches = (e: AllowEntry, host: string, port: number): boolean =>
    e.host === host && (e.port === undefined || e.port === port);
  const render = (): string =>
    entries
      .map((e) => {
        const h = isIP(e.host) === 6 ? `[${e.host}]` : e.host;
        return e.port === undefined ? h : `${h}:${e.port}`;
      })
      .join(',');
  return {
    entries,
    checkUrl(url) {
      if (url.protocol !== 'http:' && url.protocol !== 'https:')
        return { ok: false, reason: `scheme ${url.protocol} is not http: or https:` };
      const host = plainAddress(url.hostname);
      const port = defaultPort(url);
      if (entries.some((e) => matches(e, host, port))) return { ok: true };
      return {
        ok: false,
        reason:
          entries.length === 0
            ? `network access is not allowed (no --allow-net)`
            : `${host}:${port} is not in --allow-net (${render()})`,
      };
    },
    checkAddress(url, address) {
      if (!isPrivateAddress(address)) return { ok: true };
      const a = plainAddress(address);
      const port = defaultPort(url);
      const named = entries.some(
        (e) =>
          (e.port === undefined || e.port === port) &&
          (e.host === a || (e.host === 'localhost' && isLoopback(a))),
      );
      if (named) return { ok: true };
      return {
        ok: false,
        reason: `${url.hostname} connected to private address ${a}, which --allow-net does not name`,
      };
    },
    toString: render,
  };
}
