// Secret-tainted workflows stay node-local, on any shared backend: the suite runs a workflow
// with a `{"secret": NAME}` argument through the routing facade, then reads every shared
// stream back raw and finds nothing of it, while the node-local log holds all of it.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { Log } from '../../streams/log.ts';
import { createFileLog } from '../../streams/file/index.ts';
import { createTopology } from '../../streams/topology.ts';
import { createNode } from '../../processors/engine/node.ts';
import {
  createAuthority,
  createSecretStore,
  createTaintTracker,
  generateIdentity,
  lazyLocalEngine,
  REDACTED,
  routeTainted,
  withSecrets,
} from '../../processors/auth/index.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { ReceiptEvent } from '../../schemas/events.ts';
import { createCoreRunner } from '../harness/core-runner.ts';

/** Runs the suite with shared logs from `openShared` under the namespace `namespace`. */
export function describeSecretsStayLocal(openShared: () => Promise<Log>, namespace: string): void {
  it('keeps a secret-tainted workflow off the shared streams, redacted to subscribers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ipvm-secrets-'));
    const runner = await createCoreRunner();
    const secrets = createSecretStore({ dataDir: dir });
    const SECRET = '7340117';
    secrets.set('pin', SECRET);
    expect((await stat(join(dir, 'secrets.json'))).mode & 0o777).toBe(0o600);
    const sharedLog = await openShared();
    const localLog = createFileLog({ dir: join(dir, 'local') });
    const authority = createAuthority({ identity: generateIdentity() });
    const shared = await createNode({ log: sharedLog, runner, topology: { namespace }, authority });
    const engine = lazyLocalEngine(() =>
      createNode({
        log: localLog,
        runner: withSecrets(runner, secrets),
        topology: { namespace: 'local' },
        authority,
      }),
    );
    const taint = createTaintTracker(secrets);
    const node = await routeTainted({ shared, local: engine, taint });
    expect(engine.opened()).toBeUndefined(); // opened by the first tainted submission
    try {
      const t0 = {
        run: {
          rsc: runner.rsc,
          op: 'wasm/run',
          input: { func: 'add_one', args: [{ secret: 'pin' }] },
          nnc: '',
        },
        cause: null,
        meta: {},
        prf: [],
      };
      const i0 = parseWorkflow({ tasks: [t0] }).tasks[0]!.instruction;
      const t1 = {
        ...t0,
        run: { ...t0.run, input: { func: 'add_one', args: [{ 'await/ok': i0 }] } },
      };
      const t2 = { ...t0, run: { ...t0.run, input: { func: 'add_one', args: [5] } } };
      const wf = parseWorkflow({ tasks: [t0, t1, t2] });
      const seen: ReceiptEvent[] = [];
      const sub = node.receipts(wf.cid).subscribe((r) => seen.push(r));
      await node.submit(wf.bytes);
      const end = await node.ended(wf.cid);
      sub.unsubscribe();
      expect(end.type).toBe('workflow/completed');
      const out = new Map(seen.map((r) => [r.instruction.toString(), r.body.out]));
      expect(out.get(i0.toString())).toEqual(['ok', REDACTED]);
      expect(out.get(wf.tasks[1]!.instruction.toString())).toEqual(['ok', REDACTED]);
      expect(out.get(wf.tasks[2]!.instruction.toString())).toEqual(['ok', 6]); // not downstream
      // The local engine computed with the secret: 7340117 + 1 + 1.
      expect(engine.opened()!.memo.get(wf.tasks[1]!.instruction.toString())!.body.out).toEqual([
        'ok',
        7340119,
      ]);
      // A workflow without secrets still runs on the shared engine.
      const plain = parseWorkflow({
        tasks: [{ ...t0, run: { ...t0.run, input: { func: 'add_one', args: [99] } } }],
      });
      // Named, so the name is checked to reach the shared stream through the router.
      await node.submit({ name: 'plain-run', workflow: plain.workflow } as never);
      expect((await node.ended(plain.cid)).type).toBe('workflow/completed');

      // Read every shared stream back raw: none of the tainted workflow's CIDs or values.
      const needles = [
        wf.cid.toString(),
        ...wf.tasks.map((t) => t.instruction.toString()),
        ...seen.map((r) => r.receipt.toString()),
        SECRET,
      ];
      const scan = async (log: Log, ns: string): Promise<{ text: string; records: number }> => {
        let text = '';
        let records = 0;
        for (const s of createTopology({ namespace: ns }).streams)
          for await (const r of log.read(s.name)) {
            records++;
            text += Buffer.from(r.value).toString('latin1') + JSON.stringify(r.headers) + r.key;
          }
        return { text, records };
      };
      const sharedRaw = await scan(sharedLog, namespace);
      expect(sharedRaw.records).toBeGreaterThan(0); // the plain workflow is there
      expect(sharedRaw.text).toContain(plain.cid.toString());
      expect(sharedRaw.text).toContain('plain-run');
      for (const n of needles) expect(sharedRaw.text, n).not.toContain(n);
      // The CBOR of the secret-derived outputs (7340118, 7340119) is absent too.
      for (const v of [7340118, 7340119]) {
        const cbor = Buffer.from([
          0x1a,
          (v >>> 24) & 0xff,
          (v >>> 16) & 0xff,
          (v >>> 8) & 0xff,
          v & 0xff,
        ]);
        expect(sharedRaw.text).not.toContain(cbor.toString('latin1'));
      }
      // …and the local log holds them (the scan would have seen them).
      const localRaw = await scan(localLog, 'local');
      for (const n of needles.slice(0, -1)) expect(localRaw.text, n).toContain(n);
    } finally {
      await node.close();
      await localLog.close();
      await sharedLog.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
}
