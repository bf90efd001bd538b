// The allow-list, the Idempotency-Key and Retry-After: pure functions, no network.
import { describe, expect, it } from 'vitest';
import { CID } from 'multiformats/cid';
import {
  AllowListError,
  idempotencyKey,
  isPrivateAddress,
  parseAllowList,
  receiptStreamOf,
  retryAfterMs,
} from '../../processors/effects/index.ts';
import { withRetry } from '../../processors/retry.ts';

const url = (s: string) => new URL(s);

describe('allow-list', () => {
  it('matches host and port the Deno way', () => {
    const allow = parseAllowList('api.example.com,127.0.0.1:8080,[::1]:9000');
    expect(allow.checkUrl(url('https://api.example.com/x')).ok).toBe(true);
    expect(allow.checkUrl(url('http://api.example.com:81/x')).ok).toBe(true); // any port
    expect(allow.checkUrl(url('http://127.0.0.1:8080/')).ok).toBe(true);
    expect(allow.checkUrl(url('http://127.0.0.1:8081/')).ok).toBe(false);
    expect(allow.checkUrl(url('http://[::1]:9000/')).ok).toBe(true);
    expect(allow.checkUrl(url('http://other.example.com/'))).toEqual({
      ok: false,
      reason:
        'other.example.com:80 is not in --allow-net (api.example.com,127.0.0.1:8080,[::1]:9000)',
    });
    expect(allow.checkUrl(url('file:///etc/passwd')).ok).toBe(false);
    expect(parseAllowList(undefined).checkUrl(url('http://a.b/'))).toEqual({
      ok: false,
      reason: 'network access is not allowed (no --allow-net)',
    });
  });

  it('refuses private addresses unless named, so a rebound name cannot reach them', () => {
    const allow = parseAllowList('api.example.com,127.0.0.1:8080,localhost:7000');
    const api = url('http://api.example.com/');
    expect(allow.checkAddress(api, '93.184.216.34').ok).toBe(true);
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '192.168.0.9',
      '169.254.169.254',
      '::1',
      '::ffff:127.0.0.1',
      'fd00::1',
    ])
      expect(allow.checkAddress(api, a).ok, a).toBe(false);
    expect(allow.checkAddress(url('http://127.0.0.1:8080/'), '127.0.0.1').ok).toBe(true);
    expect(allow.checkAddress(url('http://localhost:7000/'), '::1').ok).toBe(true);
    expect(allow.checkAddress(url('http://localhost:7001/'), '127.0.0.1').ok).toBe(false);
    expect(isPrivateAddress('8.8.8.8')).toBe(false);
    expect(isPrivateAddress('100.64.0.1')).toBe(true);
  });

  it('names a bad entry', () => {
    expect(() => parseAllowList('a.b:99999')).toThrow(AllowListError);
    expect(() => parseAllowList('a.b:99999')).toThrow(
      '--allow-net a.b:99999: port must be 1–65535',
    );
    expect(() => parseAllowList('::1:80')).toThrow('write IPv6 addresses in brackets');
    expect(() => parseAllowList('a b')).toThrow('expected HOST[:PORT]');
  });
});

describe('idempotency key and routing', () => {
  const cid = CID.parse('bafyrmiar5g7zlldtkw6jjsopdpr3fhr6uofbhbizwxxhxdrnivrp4jbjji');
  it('derives the same key for the same instruction and nonce, another for another nonce', () => {
    expect(idempotencyKey(cid, '')).toBe(idempotencyKey(cid, ''));
    expect(idempotencyKey(cid, 'a')).not.toBe(idempotencyKey(cid, ''));
    expect(idempotencyKey(cid, '')).toMatch(/^ipvm1-[A-Za-z0-9_-]{43}$/);
  });
  it('routes receipts by op', () => {
    expect(receiptStreamOf('wasm/run')).toBe('pure');
    expect(receiptStreamOf('http/get')).toBe('effects.pure');
    expect(receiptStreamOf('random/bytes')).toBe('effects.pure');
    expect(receiptStreamOf('http/delete')).toBe('effects.managed');
  });
});

describe('Retry-After', () => {
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterMs('3', 0)).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(retryAfterMs('soon', 0)).toBeUndefined();
  });
  it('raises the retry delay, capped by maxDelayMs', async () => {
    const delays: number[] = [];
    let n = 0;
    await withRetry(
      () => {
        if (++n < 3) throw Object.assign(new Error('429'), { retryable: true, retryAfterMs: 40 });
        return Promise.resolve(n);
      },
      { baseDelayMs: 1, maxDelayMs: 30, onRetry: (_e, _a, d) => delays.push(d) },
    );
    expect(delays).toEqual([30, 30]);
  });
});
