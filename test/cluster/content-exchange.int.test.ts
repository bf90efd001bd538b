// Content between nodes: a module added on node A only runs on node B, which fetches it from A
// over libp2p/bitswap (peer given with --peer, found through A's `node` RPC method) and checks
// it by CID; an unknown CID fails with an error naming it after a bounded wait. The two
// `ipvm start` processes run with IPVM_CLUSTER_FULL=1 (npm run test:cluster); the default suite
// runs the in-process exchange.
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';
import * as raw from 'multiformats/codecs/raw';
import { createJetStreamLog } from '../../streams/jetstream/index.ts';
import { createTopology } from '../../streams/topology.ts';
import { decodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import { ContentNotFoundError, createHeliaContentStore } from '../../processors/content/index.ts';
import { submitWorkflow, workflowEnd } from './cluster-scenario.ts';
import { root, startIpvm } from './ipvm-start.ts';
import { startNats, startOrSkip, uniqueName, type NatsServer } from '../harness/servers.ts';

const MODULE = 'bafkreigc4g7ygs4m7ojs3dkqt64rjmyrdpglyo36ltd6462pf4pytn4weu';

const FULL = process.env.IPVM_CLUSTER_FULL === '1';
const nats: NatsServer | undefined = FULL ? await startOrSkip('JetStream', startNats) : undefined;
let base: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'ipvm-content-exchange-'));
  if (!FULL) {
    console.log(
      'two ipvm start processes exchanging a module: IPVM_CLUSTER_FULL=1 (npm run test:cluster)',
    );
    return;
  }
  // The example component, stored on node A only.
  await promisify(execFile)(
    process.execPath,
    [join(root, 'examples', 'build.ts'), '--data-dir', join(base, 'a')],
    { cwd: root },
  );
}, 120_000);
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await rm(base, { recursive: true, force: true });
  await nats?.stop();
});

const start = (args: string[]): Promise<string> => startIpvm(args, children);

describe('content between nodes', () => {
  it.skipIf(nats === undefined)(
    'runs on node B a module added on node A only',
    async () => {
      const common = ['--backend', 'nats', '--nats-url', nats!.url, '--log-level', 'warn'];
      const a = await start([
        ...common,
        '--namespace',
        uniqueName('a'),
        '--data-dir',
        join(base, 'a'),
      ]);
      const info = (await (await fetch(`${a}/node`)).json()) as {
        static: { peer_id: string };
        dynamic: { listeners: string[] };
      };
      // A real libp2p identity, as Homestar reports it.
      expect(info.static.peer_id).toMatch(/^12D3KooW/);
      expect(info.dynamic.listeners[0]).toMatch(
        new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${info.static.peer_id}$`),
      );

      const namespace = uniqueName('b');
      const dirB = join(base, 'b');
      const b = await start([
        ...common,
        '--namespace',
        namespace,
        '--data-dir',
        dirB,
        '--peer',
        info.dynamic.listeners[0]!,
      ]);
      const infoB = (await (await fetch(`${b}/node`)).json()) as {
        dynamic: { connections: Record<string, string> };
      };
      expect(Object.keys(infoB.dynamic.connections)).toContain(info.static.peer_id);

      const log = createJetStreamLog({ servers: nats!.url });
      const topology = createTopology({ namespace });
      try {
        await submitWorkflow(
          log,
          namespace,
          await readFile(join(root, 'examples', 'workflows', 'add-one.json')),
        );
        const ended = await workflowEnd(log, namespace);
        const outs: unknown[] = [];
        for await (const r of log.read(topology.name('pure')))
          outs.push((decodeEvent(r.value) as ReceiptEvent).body.out);
        expect(outs).toEqual([
          ['ok', 2],
          ['ok', 3],
          ['ok', 13],
        ]);
        expect(ended).toBe('workflow/completed');
      } finally {
        await log.close();
      }
      // B keeps what it fetched (verified by CID on the way in).
      for (const c of children) c.kill('SIGTERM');
      await Promise.all(
        children.map(
          (c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r))),
        ),
      );
      const storeB = await createHeliaContentStore({ dataDir: dirB });
      try {
        expect(await storeB.has(CID.parse(MODULE))).toBe(true);
      } finally {
        await storeB.close();
      }
    },
    120_000,
  );

  it('fails an unknown CID with an error naming it after the bounded wait', async () => {
    const a = await createHeliaContentStore({ dataDir: join(base, 'a2'), network: {} });
    const c = await createHeliaContentStore({
      dataDir: join(base, 'c'),
      network: { peers: a.network!.multiaddrs(), fetchTimeoutMs: 1_000 },
    });
    const module = new TextEncoder().encode('(module) stands in for a Wasm module here');
    const added = await a.add(module);
    try {
      const unknown = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode('none')));
      // It waits for the bound (a timer never fires early), and no longer: without the bound
      // the get would run into the test's own timeout and fail it.
      const started = performance.now();
      const error = await c.get(unknown).catch((e: unknown) => e);
      expect(performance.now() - started).toBeGreaterThanOrEqual(900);
      expect(error).toBeInstanceOf(ContentNotFoundError);
      expect((error as ContentNotFoundError).cid).toBe(unknown.toString());
      expect((error as Error).message).toContain(unknown.toString());
      expect((error as Error).message).toContain(
        'none of 1 connected peers sent it within 1000 ms',
      );
      // What A has, C gets (and keeps).
      expect(await c.has(added)).toBe(false);
      expect(await c.get(added)).toEqual(module);
      expect(await c.has(added)).toBe(true);
    } finally {
      await c.close();
      await a.close();
    }
  }, 60_000);
});
