// Membership on one embedded log shared by several in-process members: every member computes
// the same owner for a workflow, a member that leaves hands its workflows over at once, and one
// that goes silent (its appends fail, as if killed) is dropped after the missed heartbeats.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Log } from '../../streams/log.ts';
import { DEAD_LETTER_HEADERS } from '../../streams/dead-letter.ts';
import { createFileLog } from '../../streams/file/index.ts';
import { joinCluster, listLiveNodes, type Membership } from '../../processors/cluster/index.ts';
import { logWith } from '../harness/log-with.ts';

const HEARTBEAT_MS = 100;
let dir: string;
let log: Log;
const members: Membership[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-membership-'));
  log = createFileLog({ dir, fsync: 'none' });
});
afterEach(async () => {
  for (const m of members.splice(0)) await m.close();
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

function join_(nodeId: string, via: Log = log): Promise<Membership> {
  return joinCluster({
    log: via,
    namespace: 'ns',
    nodeId,
    heartbeatMs: HEARTBEAT_MS,
    announce: () => ({
      addrs: [`/ip4/127.0.0.1/tcp/1/p2p/${nodeId}`],
      load: { running: 0, concurrency: 4 },
      modules: 2,
      capabilities: { effectHosts: ['example.com'], secrets: [] },
      lag: null,
    }),
  }).then((m) => {
    members.push(m);
    return m;
  });
}

const until = async (check: () => boolean, ms = 5_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('cluster membership', () => {
  it('dead-letters a record that is not an announcement once, naming the field', async () => {
    const [a, b] = await Promise.all([join_('a'), join_('b')]);
    await until(() => [a, b].every((m) => m.live().length === 2));
    const bad = [
      { key: 'x', value: new TextEncoder().encode('not json') },
      { key: 'y', value: new TextEncoder().encode(JSON.stringify({ at: 1 })) },
    ];
    await log.append('ns.nodes', bad);
    const reasons = async (): Promise<string[]> => {
      const out: string[] = [];
      for await (const r of log.read('ns.dead-letter'))
        out.push(r.headers[DEAD_LETTER_HEADERS.reason] ?? '');
      return out;
    };
    await log.ensureStreams([{ name: 'ns.dead-letter', partitions: 1 }]);
    const end = Date.now() + 5_000;
    let got: string[] = [];
    while (Date.now() < end && got.length < 2) {
      got = await reasons();
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300)); // a second writer would show by now
    got = await reasons();
    expect(got.sort()).toEqual(['id: expected a non-empty string', 'value: not JSON']);
    expect(a.live()).toHaveLength(2); // the members carry on
  });

  it('agrees on one owner per workflow, and hands over when a member leaves', async () => {
    const [a, b, c] = await Promise.all([join_('a'), join_('b'), join_('c')]);
    await until(() => [a, b, c].every((m) => m.live().length === 3));
    const workflows = Array.from({ length: 60 }, (_, i) => `workflow-${i}`);
    for (const w of workflows) {
      expect([a, b, c].filter((m) => m.owns(w))).toHaveLength(1);
      expect(new Set([a, b, c].map((m) => m.owner(w))).size).toBe(1);
    }
    // Every member owns some (rendezvous hashing spreads them).
    for (const m of [a, b, c]) expect(workflows.some((w) => m.owns(w))).toBe(true);

    const listed = await listLiveNodes(log, 'ns', { waitMs: HEARTBEAT_MS * 2 });
    expect(listed.map((n) => n.id)).toEqual(['a', 'b', 'c']);
    expect(listed[0]).toMatchObject({ modules: 2, capabilities: { effectHosts: ['example.com'] } });

    let changed = 0;
    a.onChange(() => changed++);
    await c.close();
    await until(() => a.live().length === 2 && b.live().length === 2);
    expect(changed).toBe(1);
    for (const w of workflows) expect([a, b].filter((m) => m.owns(w))).toHaveLength(1);
  });

  it('drops a member that goes silent after the missed heartbeats', async () => {
    let dead = false;
    // b's appends fail from some point on: it stops heartbeating without saying goodbye.
    const dying = logWith(log, {
      append: (...a) => (dead ? Promise.reject(new Error('killed')) : log.append(...a)),
      close: () => Promise.resolve(),
      [Symbol.asyncDispose]: () => Promise.resolve(),
    });
    const [a, b] = await Promise.all([join_('a'), join_('b', dying)]);
    await until(() => a.live().length === 2 && b.live().length === 2);
    dead = true;
    const silentSince = Date.now();
    await until(() => a.live().length === 1);
    // ttl = 3 heartbeats + 500 ms → 9 of a's own heartbeats.
    expect(Date.now() - silentSince).toBeGreaterThanOrEqual(HEARTBEAT_MS * 5);
    expect(a.live()).toEqual(['a']);
    expect(a.owns('any workflow')).toBe(true);
  });
});
