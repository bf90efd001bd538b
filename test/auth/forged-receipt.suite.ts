// A forged receipt on a shared stream, on any backend: a receipt with a correct CID that claims
// the node as its signer but is signed by another key is dead-lettered with the reason, never
// enters the memo, and the instruction is then executed — not replayed. On `pure` as a computed
// receipt, and on `invocations` as a workflow's replayed one (where a node writes those),
// whether it is read live or was there when the node started.
import { expect, it } from 'vitest';
import type { Log, LogRecord } from '../../streams/log.ts';
import { DEAD_LETTER_HEADERS } from '../../streams/dead-letter.ts';
import { createNode, type IpvmNode } from '../../processors/engine/node.ts';
import { createTopology } from '../../streams/topology.ts';
import { createAuthority, delegateJwt, jwtCid } from '../../processors/auth/index.ts';
import { generateIdentity } from '../../processors/auth/identity.ts';
import { encodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import { encodeReceipt, parseWorkflow } from '../../schemas/model.ts';
import { createCoreRunner } from '../harness/core-runner.ts';
import { chain } from '../conformance/engine.suite.ts';

/** The records on the node's dead-letter stream, once `n` are there. */
export async function deadLetters(log: Log, node: IpvmNode, n = 1): Promise<LogRecord[]> {
  for (let i = 0; i < 250; i++) {
    const out: LogRecord[] = [];
    for await (const r of log.read(node.topology.name('dead-letter'))) out.push(r);
    if (out.length >= n) return out;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return [];
}

/** Runs the check on logs from `openLog`, under the namespace `namespace`. */
export function describeForgedReceipt(openLog: () => Promise<Log>, namespace: string): void {
  const cases = [
    { stream: 'pure', replayed: false, atStart: false },
    { stream: 'invocations', replayed: true, atStart: false },
    { stream: 'invocations', replayed: true, atStart: true },
  ] as const;
  for (const { stream, replayed, atStart } of cases)
    it(`refuses a forged ${replayed ? 'replayed ' : ''}receipt on ${stream}${atStart ? ' found at start' : ''} and executes the instruction`, async () => {
      const log = await openLog();
      const runner = await createCoreRunner();
      const nodeKey = generateIdentity();
      const root = generateIdentity();
      const stranger = generateIdentity();
      // A namespace of its own: the dead-letter stream holds only what this case refused.
      const topology = createTopology({
        namespace: `${namespace}-${stream}${atStart ? '-start' : ''}`,
      });
      const wf = parseWorkflow(chain(runner.rsc, 1, 41, `forged-${stream}-${atStart}`));
      const t = wf.tasks[0]!;
      let node: IpvmNode | undefined;
      const start = async (): Promise<IpvmNode> =>
        (node = await createNode({
          log,
          runner,
          topology,
          authority: createAuthority({ identity: nodeKey, mode: 'ucan', trust: [root.did] }),
        }));
      try {
        if (!atStart) await start();
        // A receipt with a correct CID claiming this node as signer, signed by someone else.
        const body = encodeReceipt({
          ran: t.invocation,
          out: ['ok', 1_000_000],
          meta: { op: 'add_one' },
          iss: null,
          prf: [],
        });
        const forged: ReceiptEvent = {
          type: 'receipt',
          instruction: t.instruction,
          invocation: t.invocation,
          receipt: body.cid,
          workflow: replayed ? wf.cid : null,
          run: t.task.run,
          body: body.receipt,
          replayed,
          fuel: null,
          durationMs: null,
          executor: 'mallory',
          iss: nodeKey.did,
          sig: stranger.sign(body.cid.bytes),
          at: Date.now(),
        };
        const key = replayed ? wf.cid.toString() : t.instruction.toString();
        await log.ensureStreams(topology.streams);
        await log.append(topology.name(stream), [{ key, value: encodeEvent(forged), headers: {} }]);
        if (atStart) await start();
        node = node!;
        const dead = await deadLetters(log, node);
        expect(dead).toHaveLength(1);
        expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toContain('forged');
        expect(node.memo.get(t.instruction.toString())).toBeUndefined();
        const before = runner.total;
        const receipts: ReceiptEvent[] = [];
        const sub = node.receipts(wf.cid).subscribe((r) => receipts.push(r));
        const proof = await delegateJwt({
          issuer: root,
          audience: nodeKey.did,
          with: runner.rsc,
          can: 'wasm/run',
        });
        await node.submit(wf.bytes, { proofs: { [jwtCid(proof)]: proof } });
        await node.ended(wf.cid);
        sub.unsubscribe();
        expect(runner.total).toBe(before + 1);
        expect(receipts[0]!.replayed).toBe(false);
        expect(receipts[0]!.body.out).toEqual(['ok', 42]);
      } finally {
        await node?.close();
        await log.close();
      }
    });
}
