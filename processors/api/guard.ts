/**
 * The API's front door, checked on every route (HTTP and WebSocket upgrade) in one place: the
 * API can run arbitrary workflows, so a web page in a local browser must not be able to drive a
 * loopback node.
 *
 * - `Host` must name an allowed host (loopback names and the bound address by default): a
 *   DNS-rebinding page reaches the port under its own name, and is refused.
 * - `Origin`, when a browser sends one, must be an allowed origin (loopback origins by
 *   default). CORS headers echo an allowed origin only — never `*`.
 * - Request bodies are capped; each connection has a cap on open subscriptions and on requests
 *   in flight (see {@link GuardInit}).
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';

/** What the guard allows. Hosts and origins are compared case-insensitively. */
export interface GuardInit {
  /**
   * Extra `Host` names (without port) accepted besides loopback (`localhost`, `127.0.0.1`,
   * `[::1]`) and the bound address. `'*'` accepts any (only behind a proxy that checks it).
   * @default []
   */
  allowedHosts?: readonly string[];
  /**
   * Extra browser origins (`https://console.example`) allowed to call the API besides loopback
   * origins (`http://localhost:*`, `http://127.0.0.1:*`, `http://[::1]:*`). There is no wildcard.
   * @default []
   */
  allowedOrigins?: readonly string[];
  /** Open subscriptions per WebSocket connection. @default DEFAULT_MAX_SUBSCRIPTIONS */
  maxSubscriptionsPerConnection?: number;
  /** Requests a connection may have in flight at once. @default DEFAULT_MAX_IN_FLIGHT */
  maxInFlightPerConnection?: number;
}

/** @default 64 */
export const DEFAULT_MAX_SUBSCRIPTIONS = 64;
/** @default 32 */
export const DEFAULT_MAX_IN_FLIGHT = 32;

const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]', '::1'];

/** The verdict on a request: refused with a status and reason, or allowed (with CORS headers). */
export type GuardVerdict =
  { ok: true; headers: Record<string, string> } | { ok: false; status: number; reason: string };

/** Checks requests against the allow-lists. */
export interface Guard {
  /** Checks `Host` and `Origin` of a request or WebSocket upgrade. */
  check(req: IncomingMessage): GuardVerdict;
  readonly maxSubscriptionsPerConnection: number;
  readonly maxInFlightPerConnection: number;
}

/** Strips the port from a `Host` value (`[::1]:80` → `[::1]`, `a:80` → `a`). */
function hostName(value: string): string {
  const v = value.trim().toLowerCase();
  if (v.startsWith('[')) return v.slice(0, v.indexOf(']') + 1);
  const colon = v.indexOf(':');
  return colon === -1 || v.indexOf(':', colon + 1) !== -1 ? v : v.slice(0, colon);
}

export function createGuard(init: GuardInit & { boundHost: string }): Guard {
  const bound = init.boundHost.toLowerCase();
  const hosts = new Set([
    ...LOOPBACK_HOSTS,
    ...(bound === '0.0.0.0' || bound === '::' ? [] : [bound, `[${bound}]`]),
    ...(init.allowedHosts ?? []).map((h) => h.toLowerCase()),
  ]);
  const anyHost = hosts.has('*');
  const origins = new Set((init.allowedOrigins ?? []).map((o) => o.toLowerCase()));
  const originAllowed = (origin: string): boolean => {
    if (origins.has(origin)) return true;
    try {
      const u = new URL(origin);
      return (
        (u.protocol === 'http:' || u.protocol === 'https:') &&
        LOOPBACK_HOSTS.includes(u.hostname.toLowerCase())
      );
    } catch {
      return false;
    }
  };
  return {
    maxSubscriptionsPerConnection: init.maxSubscriptionsPerConnection ?? DEFAULT_MAX_SUBSCRIPTIONS,
    maxInFlightPerConnection: init.maxInFlightPerConnection ?? DEFAULT_MAX_IN_FLIGHT,
    check(req): GuardVerdict {
      const host = req.headers.host;
      if (host === undefined || (!anyHost && !hosts.has(hostName(host)))) {
        return {
          ok: false,
          status: 421,
          reason: `host ${JSON.stringify(host ?? '')} is not allowed (see --rpc-allowed-hosts)`,
        };
      }
      const origin = req.headers.origin;
      if (origin === undefined) return { ok: true, headers: {} }; // not a browser page
      const o = origin.toLowerCase();
      if (!originAllowed(o)) {
        return {
          ok: false,
          status: 403,
          reason: `origin ${JSON.stringify(origin)} is not allowed (see --rpc-allowed-origins)`,
        };
      }
      return {
        ok: true,
        headers: {
          'access-control-allow-origin': origin,
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': 'content-type',
          vary: 'Origin',
        },
      };
    },
  };
}
