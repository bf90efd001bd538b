// The engine conformance suite: the same node behaviour on every Log backend.
//   describeEngine('file', () => fixture)
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { toArray, take, firstValueFrom } from 'rxjs';
import type { Log } from '../../streams/log.ts';
import { createTopology } from '../../streams/topology.ts';
import { createNode, type NodeInit } from '../../processors/engine/node.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseTask, parseWorkflow } from '../../schemas/model.ts';
import { encodeEvent } from '../../schemas/events.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';

/** What a backend's test file gives the suite. */
export interface EngineFixture {
  /** Opens a log on the fixture's storage; called again to reopen it. */
  open(): Promise<Log>;
  /** A stream namespace no other test uses. */
  namespace(hint: string): string;
  cleanup?(): Promise<void>;
}

/** One `add_one(arg)` task (`arg` a number or an `{'await/ok': cid}` promise). */
export function addOneTask(rsc: string, arg: IpldValue, nnc = ''): IpldValue {
  return {
    run: { rsc, op: 'wasm/run', input: { func: 'add_one', args: [arg] }, nnc },
    cause: null,
    meta: {},
    prf: [],
  };
}

export function chain(rsc: string, n: number, start = 1, nnc = ''): IpldValue {
  const tasks: IpldValue[] = [];
  let prev: IpldValue | null = null;
  for (let i = 0; i < n; i++) {
    const t = addOneTask(rsc, prev === null ? start : { 'await/ok': prev }, nnc);
    tasks.push(t);
    prev = parseWorkflow({ tasks: [t] }).tasks[0]!.instruction;
  }
  return { tasks };
}

export function describeEngine(name: string, makeFixture: () => Promise<EngineFixture>): void {
  describe(`engine: ${name}`, () => {
    let fixture: EngineFixture;
    let runner: CoreRunner;
    let namespace: string;
    beforeAll(async () => {
      fixture = await makeFixture();
    });
    afterAll(async () => {
      await fixture?.cleanup?.();
    });
    beforeEach(async (ctx) => {
      runner = await createCoreRunner();
      namespace = fixture.namespace(ctx.task.name.slice(0, 12).replace(/[^a-z]/gi, ''));
    });
    const nodeInit = (log: Log, extra: Partial<NodeInit> = {}): NodeInit => ({
      log,
      runner,
      topology: { namespace },
      ...extra,
    });
    it('runs a chain to completion, then replays it without executing anything', async () => {
      const wf = chain(runner.rsc, 5);
      let live: string[];
      {
        await using log = await fixture.open();
        await using node = await createNode(nodeInit(log, { nodeId: 'a' }));
        const parsed = parseWorkflow(wf);
        const seen = firstValueFrom(node.receipts(parsed.cid).pipe(take(5), toArray()));
        await node.submit(wf);
        const end = await node.ended(parsed.cid);
        expect(end.type).toBe('workflow/completed');
        live = end.receipts.map(String);
        const receipts = await seen;
        expect(receipts.map((r) => r.body.out)).toEqual([2, 3, 4, 5, 6].map((v) => ['ok', v]));
        expect(receipts.every((r) => !r.replayed)).toBe(true);
        expect(runner.total).toBe(5);
      }
      // A new node on the same log rebuilds its memo from offset 0; a workflow sharing the first
      // three instructions only runs the new ones, and re-running the old one runs nothing.
      {
        await using log = await fixture.open();
        await using node = await createNode(nodeInit(log, { nodeId: 'b' }));
        expect(node.memo.size).toBe(5);
        // Replay mode: state rebuilt from offset 0 knows the run and its receipt CIDs.
        const replayed = await node.ended(parseWorkflow(wf).cid);
        expect(replayed.receipts.map(String)).toEqual(live);
        const fromMemo = parseWorkflow(wf).tasks.map((t) =>
          node.memo.get(t.instruction.toString())!.receipt.toString(),
        );
        expect(fromMemo).toEqual(live);
        const longer = chain(runner.rsc, 7);
        const parsed = parseWorkflow(longer);
        const seen = firstValueFrom(node.receipts(parsed.cid).pipe(take(7), toArray()));
        await node.submit(longer);
        expect((await node.ended(parsed.cid)).type).toBe('workflow/completed');
        const receipts = await seen;
        expect(receipts.filter((r) => r.replayed)).toHaveLength(5);
        expect(receipts.at(-1)!.body.out).toEqual(['ok', 8]);
        expect(runner.total).toBe(7);
        // Re-running the first workflow replays each of its tasks once and executes nothing.
        const again = firstValueFrom(node.receipts(parseWorkflow(wf).cid).pipe(take(5), toArray()));
        await node.submit(wf);
        const rerun = await node.ended(parseWorkflow(wf).cid);
        expect(rerun.receipts.map(String)).toEqual(live);
        const replays = await again;
        expect(replays.every((r) => r.replayed)).toBe(true);
        // Receipts of different instructions sit on different partitions: order is not promised.
        expect(replays.map((r) => r.receipt.toString()).sort()).toEqual([...live].sort());
        expect(runner.total).toBe(7);
      }
    });

    it('fails a workflow whose task traps, with an error receipt and the dependents failed', async () => {
      await using log = await fixture.open();
      await using node = await createNode(nodeInit(log));
      const boom = {
        run: { rsc: runner.rsc, op: 'wasm/run', input: { func: 'boom', args: [] }, nnc: '' },
        cause: null,
        meta: {},
        prf: [],
      };
      const boomCid = parseWorkflow({ tasks: [boom] }).tasks[0]!.instruction;
      const after = {
        run: {
          rsc: runner.rsc,
          op: 'wasm/run',
          input: { func: 'add_one', args: [{ 'await/ok': boomCid }] },
          nnc: '',
        },
        cause: null,
        meta: {},
        prf: [],
      };
      const parsed = await node.submit({ tasks: [boom, after] });
      const end = await node.ended(parsed.cid);
      expect(end.type).toBe('workflow/failed');
      expect(end.failed.map(String).sort()).toEqual(
        parsed.tasks.map((t) => t.instruction.toString()).sort(),
      );
      expect(node.memo.get(boomCid.toString())!.body.out[0]).toBe('error');
      expect(runner.calls.get('add_one') ?? 0).toBe(0);
    });

    it('runs an instruction wanted by two workflows at once only once', async () => {
      await using log = await fixture.open();
      await using node = await createNode(nodeInit(log));
      const slow = {
        run: { rsc: runner.rsc, op: 'wasm/run', input: { func: 'slow', args: [7] }, nnc: '' },
        cause: null,
        meta: {},
        prf: [],
      };
      const a = parseWorkflow({ tasks: [slow] });
      const other = {
        run: { rsc: runner.rsc, op: 'wasm/run', input: { func: 'add_one', args: [1] }, nnc: 'x' },
        cause: null,
        meta: {},
        prf: [],
      };
      const b = parseWorkflow({ tasks: [other, slow] });
      await Promise.all([
        node.submit(a.workflow as unknown as IpldValue),
        node.submit(b.workflow as unknown as IpldValue),
      ]);
      const [ea, eb] = await Promise.all([node.ended(a.cid), node.ended(b.cid)]);
      expect(ea.type).toBe('workflow/completed');
      expect(eb.type).toBe('workflow/completed');
      expect(runner.calls.get('slow')).toBe(1);
      expect(ea.receipts[0]!.equals(eb.receipts[1]!)).toBe(true);
    });

    it('sends undecodable records to the dead-letter stream and keeps running', async () => {
      await using log = await fixture.open();
      await using node = await createNode(nodeInit(log));
      // Bytes that are not DAG-CBOR, and a well-formed submission the scheduler must refuse
      // (the same instruction twice): both dead-lettered with the reason, the node runs on.
      const one = (chain(runner.rsc, 1, 99) as { tasks: IpldValue[] }).tasks[0]!;
      const twice = encodeEvent({
        type: 'workflow/submitted',
        workflow: parseWorkflow({ tasks: [one] }).cid,
        body: { tasks: [parseTask(one), parseTask(one)] },
        name: null,
        at: 0,
      });
      await log.append(node.topology.name('invocations'), [
        { key: 'junk', value: new Uint8Array([0xff, 0x00, 0x13]) },
        { key: 'twice', value: twice },
      ]);
      const parsed = await node.submit(chain(runner.rsc, 2, 40));
      expect((await node.ended(parsed.cid)).type).toBe('workflow/completed');
      const reasons: string[] = [];
      const deadline = Date.now() + 20_000;
      while (reasons.length < 2 && Date.now() < deadline) {
        reasons.length = 0;
        for await (const r of log.read(node.topology.name('dead-letter'))) {
          reasons.push(r.headers['dead-letter-reason'] ?? '');
        }
        if (reasons.length < 2) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(reasons.some((r) => /dag-cbor at byte/.test(r))).toBe(true);
      expect(reasons.some((r) => /tasks\[1\]: duplicate instruction/.test(r))).toBe(true);
    });

    it('dead-letters bad records written while no node ran, once across restarts', async () => {
      const topology = createTopology({ namespace });
      const one = (chain(runner.rsc, 1, 77) as { tasks: IpldValue[] }).tasks[0]!;
      const twice = encodeEvent({
        type: 'workflow/submitted',
        workflow: parseWorkflow({ tasks: [one] }).cid,
        body: { tasks: [parseTask(one), parseTask(one)] },
        name: null,
        at: 0,
      });
      {
        await using log = await fixture.open();
        await log.ensureStreams(topology.streams);
        // An outside producer's junk on invocations and on a receipt stream, and a submission
        // the scheduler must refuse, all before any node starts.
        await log.append(topology.name('invocations'), [
          { key: 'junk', value: new Uint8Array([0xff, 0x00, 0x13]) },
          { key: 'twice', value: twice },
        ]);
        await log.append(topology.name('pure'), [{ key: 'junk', value: new Uint8Array([0x9f]) }]);
      }
      const seen: Array<{ stream: string; partition: number; offset: number }> = [];
      const onProgress: NodeInit['onProgress'] = (e) => {
        if (e.type === 'node:dead-letter') seen.push(e);
      };
      for (let start = 0; start < 2; start++) {
        await using log = await fixture.open();
        await using node = await createNode(nodeInit(log, { onProgress }));
        const parsed = await node.submit(chain(runner.rsc, 1, 300 + start));
        expect((await node.ended(parsed.cid)).type).toBe('workflow/completed');
      }
      // Recovery dead-lettered each once; the second start found them already there.
      expect(seen.map((e) => e.stream).sort()).toEqual(
        [topology.name('invocations'), topology.name('invocations'), topology.name('pure')].sort(),
      );
      await using log = await fixture.open();
      const letters: Array<Record<string, string>> = [];
      for await (const r of log.read(topology.name('dead-letter'))) letters.push(r.headers);
      expect(letters).toHaveLength(3);
      for (const h of letters) {
        expect(h['dead-letter-reason']).toMatch(/dag-cbor at byte|duplicate instruction/);
        expect(h['dead-letter-partition']).toMatch(/^\d+$/);
        expect(h['dead-letter-offset']).toMatch(/^\d+$/);
      }
      expect(letters.map((h) => h['dead-letter-stream']).sort()).toEqual(
        seen.map((e) => e.stream).sort(),
      );
    });
  });
}
