// A forged receipt on a shared receipt stream, on any backend: a receipt with a correct CID
// that claims the node as its signer but is signed by another key is dead-lettered with the
// reason, never enters the memo, and the instruction is then executed — not replayed.
import { expect, it } from 'vitest';
import type { Log, LogRecord } from '../../streams/log.ts';
import { DEAD_LETTER_HEADERS } from '../../streams/dead-letter.ts';
import { createNode, type IpvmNode } from '../../processors/engine/node.ts';
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
  it('refuses a forged receipt on the receipt stream and executes the instruction', async () => {
    const log = await openLog();
    const runner = await createCoreRunner();
    const nodeKey = generateIdentity();
    const root = generateIdentity();
    const stranger = generateIdentity();
    const node = await createNode({
      log,
      runner,
      topology: { namespace },
      authority: createAuthority({ identity: nodeKey, mode: 'ucan', trust: [root.did] }),
    });
    try {
      const wf = parseWorkflow(chain(runner.rsc, 1, 41, 'forged'));
      const t = wf.tasks[0]!;
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
        workflow: null,
        run: t.task.run,
        body: body.receipt,
        replayed: false,
        fuel: null,
        durationMs: null,
        executor: 'mallory',
        iss: nodeKey.did,
        sig: stranger.sign(body.cid.bytes),
        at: Date.now(),
      };
      await log.append(node.topology.name('pure'), [
        { key: t.instruction.toString(), value: encodeEvent(forged), headers: {} },
      ]);
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
      await node.close();
      await log.close();
    }
  });
}
