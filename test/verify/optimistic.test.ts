// Optimistic verification: a task asking for N confirmations runs N times on independent
// executors; a module that reads the host clock disagrees with itself, and that is reported.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CID } from 'multiformats/cid';
import type { IpldValue } from '../../schemas/ipld.ts';
import { createNode } from '../../processors/engine/node.ts';
import type { RunRequest, TaskRunner } from '../../processors/engine/execute-tasks.ts';
import { wasmRunner } from '../../processors/wasm-runner.ts';
import type { Executor } from '../../processors/wasm/index.ts';
import { confirmationsOf, verifyingRunner } from '../../processors/verify/optimistic.ts';
import { mismatchRecorder } from '../../processors/verify/record.ts';
import { decodeEvent } from '../../schemas/events.ts';
import { createTopology } from '../../streams/topology.ts';
import { createMemoryLog } from '../tables/memory-log.ts';
import { createFixture, type Fixture } from '../wasm/setup.ts';

let f: Fixture;
let host: CID;
let addOne: CID;
beforeAll(async () => {
  f = await createFixture();
  host = await f.component('host');
  addOne = await f.component('add-one');
}, 60_000);
afterAll(() => f.close());

/** A runner whose host reports its own wall clock to `get-current-time`. */
function hostClockRunner(executor: Executor, clock: () => number): TaskRunner {
  const inner = wasmRunner(executor);
  return {
    async execute(request: RunRequest, options) {
      const r = await executor.execute(
        {
          rsc: request.rsc,
          func: request.func,
          args: request.args,
          limits: request.limits,
          epochMs: clock(),
        },
        options,
      );
      return r.ok
        ? { ok: true, value: Number(r.value), fuel: Number(r.fuel), durationMs: r.durationMs }
        : inner.execute(request, options);
    },
  };
}

const task = (rsc: CID, func: string, args: IpldValue[], meta: IpldValue): IpldValue => ({
  tasks: [
    {
      run: { rsc: `ipfs://${rsc.toString()}`, op: 'wasm/run', input: { func, args }, nnc: '' },
      cause: null,
      meta,
      prf: [],
    },
  ],
});

describe('meta.verification', () => {
  it('reads confirmations, with located errors', () => {
    expect(confirmationsOf({})).toBe(1);
    expect(confirmationsOf({ verification: { optimistic: { confirmations: 3 } } })).toBe(3);
    expect(() => confirmationsOf({ verification: { optimistic: { confirmations: 0 } } })).toThrow(
      /^meta\.verification\.optimistic\.confirmations: expected an integer/,
    );
  });

  it('a non-deterministic module (reads the host clock) gets an error receipt naming executors and outputs', async () => {
    const log = createMemoryLog();
    const topology = createTopology({ namespace: 'ov' });
    await log.ensureStreams(topology.streams);
    // Three executors, each with its own host clock (a wall clock that moves between reads).
    let now = 1_700_000_000_000;
    const runners = [0, 1, 2].map(() => hostClockRunner(f.newExecutor(), () => (now += 7)));
    const recorder = mismatchRecorder(log, topology.name('verification'));
    const runner = verifyingRunner({
      runner: runners[0]!,
      runners,
      nodeId: 'n1',
      onMismatch: recorder.record,
    });
    const node = await createNode({ log, runner, topology, nodeId: 'n1' });
    try {
      const wf = await node.submit(
        task(host, 'run', [], { verification: { optimistic: { confirmations: 3 } } }),
      );
      const receipts: unknown[] = [];
      const sub = node.receipts(wf.cid).subscribe((r) => receipts.push(r.body.out));
      const end = await node.ended(wf.cid, { signal: AbortSignal.timeout(20_000) });
      sub.unsubscribe();
      expect(end.type).toBe('workflow/failed');
      const out = receipts[0] as ['error', { kind: string; message: string }];
      expect(out[0]).toBe('error');
      expect(out[1].kind).toBe('verification');
      expect(out[1].message).toMatch(
        /3 executions disagree: n1#1 → ok bafyrmi\w+, n1#2 → ok bafyrmi\w+, n1#3 → ok/,
      );
      await recorder.drain();
      const mismatches = [];
      for await (const r of log.read(topology.name('verification')))
        mismatches.push(decodeEvent(r.value));
      expect(mismatches).toHaveLength(1);
      const m = mismatches[0]!;
      if (m.type !== 'verification/mismatch') throw new Error('not a mismatch');
      expect(m.instruction?.toString()).toBe(wf.tasks[0]!.instruction.toString());
      expect(m.executions.map((e) => e.executor)).toEqual(['n1#1', 'n1#2', 'n1#3']);
      expect(new Set(m.executions.map((e) => e.output.toString())).size).toBe(3);
    } finally {
      await node.close();
    }
  }, 30_000);

  it('a deterministic module confirmed 3 times is published as computed', async () => {
    let calls = 0;
    const base = wasmRunner(f.executor);
    const counting: TaskRunner = { execute: (r, o) => (calls++, base.execute(r, o)) };
    const mismatches: unknown[] = [];
    const runner = verifyingRunner({
      runner: counting,
      nodeId: 'n',
      onMismatch: (m) => mismatches.push(m),
    });
    const r = await runner.execute({
      rsc: `ipfs://${addOne.toString()}`,
      func: 'add-one',
      args: [41],
      limits: {},
      task: {
        type: 'task/ready',
        workflow: null,
        instruction: addOne,
        invocation: addOne,
        task: {
          run: { rsc: `ipfs://${addOne.toString()}`, op: 'wasm/run', input: {}, nnc: '' },
          cause: null,
          meta: { verification: { optimistic: { confirmations: 3 } } },
          prf: [],
        },
        args: [41],
        at: 0,
      },
    });
    expect(r).toMatchObject({ ok: true, value: 42 });
    expect(calls).toBe(3);
    expect(mismatches).toEqual([]);
  });
});
