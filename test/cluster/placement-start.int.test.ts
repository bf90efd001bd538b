// Matchmaking between two `ipvm start` processes on one JetStream namespace (the nodes as
// users run them: identities, effect allow-lists, the composition root's matchmaker): a task
// needing an effect host only node B allows runs on B — its receipt's executor is B's DID —
// while the plain tasks of the workflow run wherever they are drawn; an http/get effect to a
// host only B allows runs on B; B stopped keeps its offers resume point. `ipvm nodes --json`
// lists both with their capabilities and libp2p addresses, and B (no --peer) connects to A from
// A's announcement on the nodes stream. IPVM_CLUSTER_FULL=1
// (npm run test:cluster); the default suite runs the same protocol with engine-level nodes
// (placement.int.test.ts).
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJetStreamLog } from '../../streams/jetstream/index.ts';
import { createTopology } from '../../streams/topology.ts';
import { decodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import { dagJson } from '../../schemas/codecs.ts';
import { submitWorkflow, workflowEnd } from './cluster-scenario.ts';
import { root, startIpvm } from './ipvm-start.ts';
import { startNats, startOrSkip, uniqueName, type NatsServer } from '../harness/servers.ts';
import { startTestServer, type TestServer } from '../effects/server.ts';

const run = promisify(execFile);
const FULL = process.env.IPVM_CLUSTER_FULL === '1';
const nats: NatsServer | undefined = FULL ? await startOrSkip('JetStream', startNats) : undefined;
let base: string;
let server: TestServer;
let HOST: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'ipvm-placement-start-'));
  server = await startTestServer();
  HOST = `127.0.0.1:${server.port}`;
  if (!FULL) return;
  // The example component on both nodes.
  for (const dir of ['a', 'b'])
    await run(
      process.execPath,
      [join(root, 'examples', 'build.ts'), '--data-dir', join(base, dir)],
      {
        cwd: root,
      },
    );
}, 180_000);
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await rm(base, { recursive: true, force: true });
  await nats?.stop();
  await server.close();
});

describe('matchmaking between ipvm start processes', () => {
  it.skipIf(nats === undefined)(
    'runs a task needing an effect host on the one node that allows it',
    async () => {
      const namespace = uniqueName('placed');
      const common = [
        ...['--backend', 'nats', '--nats-url', nats!.url, '--namespace', namespace],
        ...['--bid-window', '1500'],
      ];
      const did = async (dir: string): Promise<string> =>
        (
          await run(process.execPath, [join(root, 'cli', 'bin.js'), 'id', '--data-dir', dir], {
            cwd: root,
          })
        ).stdout.trim();
      const didA = await did(join(base, 'a'));
      const didB = await did(join(base, 'b'));
      await startIpvm(
        [...common, '--data-dir', join(base, 'a'), '--allow-net', '127.0.0.1:1'],
        children,
      );
      const rpcB = await startIpvm(
        [...common, '--data-dir', join(base, 'b'), '--allow-net', HOST],
        children,
      );
      const nodeB = children.at(-1)!;

      // `ipvm nodes` lists both, with what bids use and the libp2p address each announced …
      const listed = JSON.parse(
        (
          await run(
            process.execPath,
            [join(root, 'cli', 'bin.js'), 'nodes', '--json', ...common.slice(0, 6)],
            { cwd: root },
          )
        ).stdout,
      ) as Array<{
        id: string;
        peerId: string;
        addrs: string[];
        load: { concurrency: number };
        capabilities: { effectHosts: string[] };
        lag: number | null;
      }>;
      expect(listed.map((n) => n.id).sort()).toEqual([didA, didB].sort());
      // Measured at each heartbeat (records not folded yet): a count, no longer unknown.
      for (const n of listed) expect(n.lag).toBeGreaterThanOrEqual(0);
      const b = listed.find((n) => n.id === didB)!;
      expect(b.capabilities.effectHosts).toEqual([HOST]);
      expect(b.load.concurrency).toBe(16);
      for (const n of listed) expect(n.addrs[0]).toMatch(new RegExp(`/p2p/${n.peerId}$`));
      // … and B, given no --peer, is connected to A from that announcement.
      const peerA = listed.find((n) => n.id === didA)!.peerId;
      for (;;) {
        const info = (await (await fetch(`${rpcB}/node`)).json()) as {
          dynamic: { connections: Record<string, string> };
        };
        if (peerA in info.dynamic.connections) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }

      const example = JSON.parse(
        await readFile(join(root, 'examples', 'workflows', 'add-one.json'), 'utf8'),
      ) as { tasks: Array<{ meta: Record<string, unknown> }> };
      example.tasks[0]!.meta.needs = [`net:${HOST}`];
      const log = createJetStreamLog({ servers: nats!.url });
      const topology = createTopology({ namespace });
      try {
        const parsed = await submitWorkflow(log, namespace, dagJson.encode(example));
        const ended = await workflowEnd(log, namespace, parsed.cid);
        expect(ended).toBe('workflow/completed');
        const receipts = new Map<string, ReceiptEvent>();
        for await (const r of log.read(topology.name('pure'))) {
          const e = decodeEvent(r.value) as ReceiptEvent;
          receipts.set(e.instruction.toString(), e);
        }
        const first = receipts.get(parsed.tasks[0]!.instruction.toString())!;
        expect(first.body.out).toEqual(['ok', 2]);
        expect(first.executor).toBe(didB);
        expect(receipts.size).toBe(3);

        // An http/get effect to the host only B allows, placed by its need: B fetches it.
        const fetch = {
          tasks: [
            {
              run: {
                rsc: `http://${HOST}/doc`,
                op: 'http/get',
                input: { response: 'json' },
                nnc: '',
              },
              cause: null,
              meta: { needs: [`net:${HOST}`] },
              prf: [],
            },
          ],
        };
        const fetched = await submitWorkflow(log, namespace, dagJson.encode(fetch));
        expect(await workflowEnd(log, namespace, fetched.cid)).toBe('workflow/completed');
        const effectReceipts: ReceiptEvent[] = [];
        for await (const r of log.read(topology.name('effects.pure'))) {
          const e = decodeEvent(r.value) as ReceiptEvent;
          if (e.instruction.equals(fetched.tasks[0]!.instruction)) effectReceipts.push(e);
        }
        expect(effectReceipts).toHaveLength(1);
        expect(effectReceipts[0]!.executor).toBe(didB);
        expect(effectReceipts[0]!.body.out[0]).toBe('ok');
        expect(server.count('GET', '/doc')).toBe(1);
        // Stopped, B keeps where its next start reads the offers stream from: past the
        // settled offer (the resume point's anchor is the last record it read).
        const exited = new Promise((resolve) => nodeB.once('exit', resolve));
        nodeB.kill('SIGTERM');
        await exited;
        const point = JSON.parse(
          await readFile(join(base, 'b', 'cluster', `offers-${namespace}.json`), 'utf8'),
        ) as { position: number; anchor: { offset: number } };
        expect(point.position).toBe(point.anchor.offset + 1);
      } finally {
        await log.close();
      }
    },
    180_000,
  );
});
