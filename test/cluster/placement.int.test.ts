// Matchmaking on 3 node processes over JetStream: a task naming a node runs there (the receipt's
// executor says so), a task needing an effect host only node-2 allows runs on node-2, tasks no
// live node can serve end in an `unplaced` error receipt naming the need and the live nodes,
// and plain tasks (one awaiting a placed one) take the shared path. Every placed task is
// decided once on the `offers` stream.
import { readFile } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { createJetStreamLog } from '../../streams/jetstream/index.ts';
import { createTopology } from '../../streams/topology.ts';
import { decodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import { dagJson } from '../../schemas/codecs.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { offersStream } from '../../processors/cluster/matchmaker.ts';
import { createCoreRunner } from '../harness/core-runner.ts';
import { startNats, startOrSkip, uniqueName } from '../harness/servers.ts';
import { cleanup, prepare } from '../engine/crash-scenario.ts';
import { startNodes, submitWorkflow, type StartedNodes } from './cluster-scenario.ts';

const nats = await startOrSkip('JetStream', startNats);
afterAll(async () => {
  await nats?.stop();
});

const HOST = '127.0.0.1:18181';

function task(rsc: string, arg: IpldValue, meta: IpldValue): IpldValue {
  return {
    run: { rsc, op: 'wasm/run', input: { func: 'add_one', args: [arg] }, nnc: '' },
    cause: null,
    meta,
    prf: [],
  };
}

describe.skipIf(nats === undefined)('matchmaking on JetStream (3 nodes)', () => {
  it('places by meta.node and meta.needs, and fails clearly what nobody serves', async () => {
    const files = await prepare(1);
    const rsc = (await createCoreRunner(new Uint8Array(await readFile(files.wasm)))).rsc;
    const namespace = uniqueName('place');
    const topology = createTopology({ namespace });
    const log = createJetStreamLog({ servers: nats!.url, storage: 'file' });
    let nodes: StartedNodes | undefined;
    try {
      await log.ensureStreams(topology.streams);
      nodes = await startNodes(
        { env: { IPVM_TEST_BACKEND: 'nats', NATS_URL: nats!.url }, namespace, nodes: 3 },
        files.wasm,
        (id) => (id === 'node-2' ? { IPVM_ALLOW_NET: HOST } : { IPVM_ALLOW_NET: '127.0.0.1:1' }),
      );
      const onNode1 = task(rsc, 100, { node: 'node-1' });
      const onNode1Instruction = parseWorkflow({ tasks: [onNode1] }).tasks[0]!.instruction;
      const wf = {
        tasks: [
          onNode1,
          task(rsc, 200, { needs: [`net:${HOST}`] }),
          task(rsc, 300, { needs: ['secret:NOPE'] }),
          task(rsc, 400, { node: 'node-9' }),
          task(rsc, { 'await/ok': onNode1Instruction }, {}),
          task(rsc, 600, { needs: [`module:${rsc.slice(7)}`] }),
        ],
      };
      const parsed = await submitWorkflow(log, namespace, dagJson.encode(wf));
      const ids = parsed.tasks.map((t) => t.instruction.toString());
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 60_000);
      let ended: string | null = null;
      for await (const r of log.read(topology.name('invocations'), {
        follow: true,
        signal: controller.signal,
      })) {
        const e = decodeEvent(r.value);
        if (
          (e.type === 'workflow/completed' || e.type === 'workflow/failed') &&
          e.workflow.equals(parsed.cid)
        ) {
          ended = e.type;
          break;
        }
      }
      clearTimeout(timer);
      expect(ended).toBe('workflow/failed');

      const receipts = new Map<string, ReceiptEvent[]>();
      for await (const r of log.read(topology.name('pure'))) {
        const e = decodeEvent(r.value) as ReceiptEvent;
        const list = receipts.get(e.instruction.toString()) ?? [];
        list.push(e);
        receipts.set(e.instruction.toString(), list);
      }
      const one = (i: number): ReceiptEvent => {
        const list = receipts.get(ids[i]!) ?? [];
        expect(list, `receipts of task ${i}`).toHaveLength(1);
        return list[0]!;
      };
      expect(one(0).executor).toBe('node-1');
      expect(one(0).body.out).toEqual(['ok', 101]);
      expect(one(1).executor).toBe('node-2');
      expect(one(1).body.out).toEqual(['ok', 201]);
      const unplaced = (i: number): { kind: string; message: string } => {
        const out = one(i).body.out as unknown as [string, { kind: string; message: string }];
        expect(out[0]).toBe('error');
        return out[1];
      };
      expect(unplaced(2).kind).toBe('unplaced');
      expect(unplaced(2).message).toMatch(/live: node-0, node-1, node-2/);
      expect(unplaced(2).message).toMatch(/node-2: secret:NOPE: no secret NOPE/);
      expect(unplaced(3).message).toMatch(/node-0: node: the task names node-9/);
      expect(one(4).body.out).toEqual(['ok', 102]);
      expect(one(5).body.out).toEqual(['ok', 601]);

      // One decision per placed task on the offers stream.
      const decisions = new Map<string, number>();
      for await (const r of log.read(offersStream(namespace))) {
        const m = JSON.parse(new TextDecoder().decode(r.value)) as { kind: string; id: string };
        if (m.kind === 'award' || m.kind === 'unplaced')
          decisions.set(m.id, (decisions.get(m.id) ?? 0) + 1);
      }
      expect([...decisions.values()]).toEqual([1, 1, 1, 1, 1]);
    } catch (error) {
      const logs = [...(nodes?.output ?? [])]
        .map(([id, text]) => `--- ${id}\n${text.slice(-2000)}`)
        .join('\n');
      throw new Error(`${(error as Error).message}\n${logs}`, { cause: error });
    } finally {
      for (const child of nodes?.children.values() ?? []) child.kill('SIGTERM');
      await Promise.all(nodes?.exits ?? []);
      await log.close();
      await cleanup(files);
    }
  }, 120_000);
});
