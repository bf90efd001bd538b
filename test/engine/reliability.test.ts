// Reliability of the engine on the embedded file log: retryable failures never become
// permanent, retries follow a policy, and what recovery finds is never dropped.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log } from '../../streams/log.ts';
import { createNode, type NodeInit, type NodeProgress } from '../../processors/engine/node.ts';
import { createNodeMetrics } from '../../processors/metrics.ts';
import type { RunRequest, RunResult, TaskRunner } from '../../processors/engine/execute-tasks.ts';
import {
  decodeEvent,
  type ReceiptEvent,
  type WorkflowSubmittedEvent,
} from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';
import { chain } from '../conformance/engine.suite.ts';
import { createTopology } from '../../streams/topology.ts';
import { readReceipts, readWorkflows } from '../../processors/api/log-view.ts';
import { logWith } from '../harness/log-with.ts';

/** A runner whose module is missing (a retryable failure) until `available` is set. */
interface FlakyRunner extends TaskRunner {
  available: boolean;
  /** Fail this many calls retryably, then behave. */
  failNext: number;
  tries: number;
}

function flaky(inner: CoreRunner): FlakyRunner {
  const r: FlakyRunner = {
    available: false,
    failNext: 0,
    tries: 0,
    execute(request: RunRequest, options): Promise<RunResult> {
      r.tries++;
      if (!r.available || r.failNext > 0) {
        r.failNext = Math.max(0, r.failNext - 1);
        return Promise.reject(
          Object.assign(new Error(`content not found: ${request.rsc}`), {
            name: 'ContentNotFoundError',
            retryable: true,
          }),
        );
      }
      return inner.execute(request, options);
    },
  };
  return r;
}

/** The `workflow/submitted` events of a stream, with where each is. */
async function submissionsOf(
  log: Log,
  stream: string,
): Promise<Array<WorkflowSubmittedEvent & { partition: number; offset: number }>> {
  const out: Array<WorkflowSubmittedEvent & { partition: number; offset: number }> = [];
  for await (const record of log.read(stream, { from: 'earliest' })) {
    const e = decodeEvent(record.value);
    if (e.type === 'workflow/submitted')
      out.push({ ...e, partition: record.partition, offset: record.offset });
  }
  return out;
}

describe('reliability', () => {
  let dir: string;
  let inner: CoreRunner;
  let runner: FlakyRunner;
  let n = 0;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ipvm-reliability-'));
    inner = await createCoreRunner();
    runner = flaky(inner);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  const open = (): Log => createFileLog({ dir });
  const init = (log: Log, extra: Partial<NodeInit> = {}): NodeInit => ({
    log,
    runner,
    topology: { namespace: `r${++n}` },
    taskRetry: { attempts: 2, backoffMs: 1, maxBackoffMs: 5 },
    tickIntervalMs: 50,
    ...extra,
  });
  const within = (ms: number): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(ms) });

  it('re-running a workflow whose module was missing runs its tasks (same node)', async () => {
    const log = open();
    const node = await createNode(init(log));
    try {
      const wf = chain(inner.rsc, 3);
      const parsed = await node.submit(wf);
      const first = await node.ended(parsed.cid, within(10_000));
      expect(first.type).toBe('workflow/failed');
      expect(node.memo.size).toBe(0); // retryable failures are never memoized
      runner.available = true;
      await node.submit(wf);
      const second = await node.ended(parsed.cid, within(10_000));
      expect(second.type).toBe('workflow/completed');
      expect(inner.total).toBe(3);
    } finally {
      await node.close();
      await log.close();
    }
  });

  it('re-running it on a restarted node runs its tasks, and a third run replays them', async () => {
    const wf = chain(inner.rsc, 3);
    const cid = parseWorkflow(wf).cid;
    const ns = { namespace: 'restart' };
    {
      const log = open();
      const node = await createNode(init(log, { topology: ns }));
      await node.submit(wf);
      expect((await node.ended(cid, within(10_000))).type).toBe('workflow/failed');
      await node.close();
      await log.close();
    }
    runner.available = true;
    for (const expected of [3, 3]) {
      const log = open();
      const node = await createNode(init(log, { topology: ns }));
      try {
        await node.submit(wf);
        const end = await node.ended(cid, within(10_000));
        expect(end.type).toBe('workflow/completed');
        expect(inner.total).toBe(expected);
      } finally {
        await node.close();
        await log.close();
      }
    }
  });

  it('a re-run references the receipts an earlier run wrote instead of writing them again', async () => {
    const topology = { namespace: 'rerun-refs' };
    const names = createTopology(topology);
    const count = async (log: Log, stream: string): Promise<number> => {
      let n = 0;
      for await (const _ of log.read(stream, { from: 'earliest' })) n++;
      return n;
    };
    runner.available = true;
    const wf = chain(inner.rsc, 20);
    const cid = parseWorkflow(wf).cid;
    let receipts: string[] = [];
    for (const restart of [false, false, true]) {
      const log = open();
      const node = await createNode(init(log, { topology }));
      try {
        const runs = restart ? 1 : 2;
        for (let i = 0; i < runs; i++) {
          await node.submit(wf);
          const end = await node.ended(cid, within(10_000));
          expect(end.type).toBe('workflow/completed');
          const mine = end.receipts.map(String);
          if (receipts.length === 0) {
            receipts = mine;
            expect(end.replayed).toBeUndefined();
          } else {
            // The same receipts, referenced: every task of the re-run is counted as replayed.
            expect(mine).toEqual(receipts);
            expect(end.replayed).toBe(20);
          }
        }
        // One receipt record per task over every run: re-runs appended only their
        // submission and end.
        expect(await count(log, names.name('pure'))).toBe(20);
        expect(inner.total).toBe(20);
      } finally {
        await node.close();
        await log.close();
      }
    }
    const log = open();
    try {
      // Status still counts every replay: 4 re-runs of 20 tasks.
      const [view] = await readWorkflows(log, names);
      expect(view).toMatchObject({ submissions: 5, status: 'completed', replayed: 80, ok: 20 });
      // Nor is the workflow copied again: each re-run's submission references the first.
      const submissions = await submissionsOf(log, names.name('invocations'));
      expect(submissions.map((e) => e.body === null)).toEqual([false, true, true, true, true]);
      const first = submissions[0]!;
      for (const e of submissions.slice(1))
        expect(e.source).toEqual({ partition: first.partition, offset: first.offset, tasks: 20 });
    } finally {
      await log.close();
    }
  });

  it("a workflow answered from another's receipts is replayed in every reader of the log", async () => {
    const topology = { namespace: 'replayed-readers' };
    const names = createTopology(topology);
    runner.available = true;
    const first = chain(inner.rsc, 2) as { tasks: Array<Record<string, IpldValue>> };
    // The same tasks under other metadata: another workflow, wholly memoized.
    const second = {
      tasks: first.tasks.map((t) => ({ ...t, meta: { ...(t.meta as object), note: 'again' } })),
    };
    const [a, b] = [parseWorkflow(first), parseWorkflow(second)];
    const log = open();
    const node = await createNode(init(log, { topology }));
    try {
      await node.submit(a);
      await node.ended(a.cid, within(10_000));
      await node.submit(b);
      expect((await node.ended(b.cid, within(10_000))).type).toBe('workflow/completed');
    } finally {
      await node.close();
    }
    try {
      // Its receipts are on `invocations` (not `pure`), and the readers find them there.
      const index = await readReceipts(log, names);
      expect(index.replays.get(b.cid.toString())).toBe(2);
      for (const t of b.tasks)
        expect(
          index.byWorkflow.get(`${b.cid.toString()} ${t.instruction.toString()}`)?.replayed,
        ).toBe(true);
      const views = await readWorkflows(log, names);
      expect(views.find((v) => v.workflow === b.cid.toString())).toMatchObject({
        status: 'completed',
        replayed: 2,
        ok: 2,
      });
    } finally {
      await log.close();
    }
  });

  it('a re-run interrupted before it ran resumes on restart from the body it references', async () => {
    const topology = { namespace: 'rerun-resume' };
    const wf = chain(inner.rsc, 3);
    const cid = parseWorkflow(wf).cid;
    {
      // The first run fails (its module is missing): nothing is memoized.
      const log = open();
      const node = await createNode(init(log, { topology }));
      await node.submit(wf);
      expect((await node.ended(cid, within(10_000))).type).toBe('workflow/failed');
      await node.close();
      await log.close();
    }
    {
      // Re-submitted to a node that executes nothing, then stopped: the run is left open.
      const log = open();
      const node = await createNode(init(log, { topology, execute: false }));
      await node.submit(wf);
      await node.close();
      const submissions = await submissionsOf(log, createTopology(topology).name('invocations'));
      expect(submissions.map((e) => e.body === null)).toEqual([false, true]);
      await log.close();
    }
    runner.available = true;
    const log = open();
    const node = await createNode(init(log, { topology }));
    try {
      // Recovery reads the body back from the first record and runs the re-run's tasks.
      const end = await node.ended(cid, within(10_000));
      expect(end.type).toBe('workflow/completed');
      expect(inner.total).toBe(3);
    } finally {
      await node.close();
      await log.close();
    }
  });

  it('says how many records its live follow has not folded yet (behind)', async () => {
    const inner = open();
    // The live follow's reads wait for the gate: what is appended meanwhile is behind.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const log = logWith(inner, {
      read: (stream, options) =>
        options?.follow !== true
          ? inner.read(stream, options)
          : (async function* () {
              await gate;
              yield* inner.read(stream, options);
            })(),
    });
    const topology = { namespace: 'behind' };
    const node = await createNode(init(log, { topology, execute: false }));
    try {
      expect(await node.behind()).toBe(0);
      const invocations = createTopology(topology).name('invocations');
      await log.append(
        invocations,
        [1, 2, 3].map((i) => ({ key: `k${i}`, value: new Uint8Array([i]) })),
      );
      expect(await node.behind()).toBe(3);
      release();
      // Read (and, being undecodable, dead-lettered): nothing is behind any more.
      for (let i = 0; i < 200 && (await node.behind()) > 0; i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(await node.behind()).toBe(0);
    } finally {
      await node.close();
      await inner.close();
    }
  });

  it('a restart after a run interrupted by a crash retries the tasks that failed retryably', async () => {
    const wf = chain(inner.rsc, 2);
    const cid = parseWorkflow(wf).cid;
    const ns = { namespace: 'crash' };
    {
      const log = open();
      const node = await createNode(init(log, { topology: ns }));
      await node.submit(wf);
      await node.ended(cid, within(10_000));
      // A second submission whose tasks get only retryable failures, then a stop before any end
      // (the scheduler-only node writes task/ready records and nothing runs them).
      await node.close();
      const idle = await createNode(init(log, { topology: ns, execute: false }));
      await idle.submit(wf);
      await new Promise((r) => setTimeout(r, 200));
      await idle.close();
      await log.close();
    }
    runner.available = true;
    const log = open();
    const node = await createNode(init(log, { topology: ns }));
    try {
      const end = await node.ended(cid, within(10_000));
      expect(end.type).toBe('workflow/completed');
      expect(inner.total).toBe(2);
    } finally {
      await node.close();
      await log.close();
    }
  });

  it('retries retryable failures by meta.retry, visible on the receipt and in the metrics', async () => {
    const log = open();
    const progress: NodeProgress[] = [];
    const metrics = createNodeMetrics();
    const node = await createNode(
      init(log, {
        onProgress: (e) => {
          progress.push(e);
          metrics.onProgress(e);
        },
      }),
    );
    try {
      runner.available = true;
      runner.failNext = 3;
      const wf = chain(inner.rsc, 1) as { tasks: Array<{ meta: IpldValue }> };
      wf.tasks[0]!.meta = { retry: { attempts: 4, backoff: 1 } };
      const parsed = parseWorkflow(wf);
      const receipts: ReceiptEvent[] = [];
      const sub = node.receipts(parsed.cid).subscribe((r) => receipts.push(r));
      await node.submit(wf);
      const end = await node.ended(parsed.cid, within(10_000));
      sub.unsubscribe();
      expect(end.type).toBe('workflow/completed');
      expect(receipts[0]!.body.out).toEqual(['ok', 2]);
      expect(receipts[0]!.attempts).toBe(4);
      expect(progress.filter((e) => e.type === 'execute:retry')).toHaveLength(3);
      expect(await metrics.render()).toMatch(/^ipvm_task_retries_total 3$/m);
      // The receipt's own meta stays Homestar's, so its CID does not depend on the retries.
      expect(receipts[0]!.body.meta).toEqual({ op: 'add_one' });

      // Out of attempts: a retryable receipt that says how many tries it took.
      runner.failNext = 5;
      const once = chain(inner.rsc, 1, 50) as { tasks: Array<{ meta: IpldValue }> };
      once.tasks[0]!.meta = { retry: { attempts: 2 } };
      const p2 = parseWorkflow(once);
      const failed: ReceiptEvent[] = [];
      const sub2 = node.receipts(p2.cid).subscribe((r) => failed.push(r));
      await node.submit(once);
      expect((await node.ended(p2.cid, within(10_000))).type).toBe('workflow/failed');
      sub2.unsubscribe();
      expect(failed[0]!.body.out[1]).toMatchObject({ retryable: true, attempts: 2 });
    } finally {
      await node.close();
      await log.close();
    }
  });

  it('refuses a malformed meta.retry at submission with its location', async () => {
    const log = open();
    const node = await createNode(init(log));
    try {
      const wf = chain(inner.rsc, 2) as { tasks: Array<{ meta: IpldValue }> };
      wf.tasks[1]!.meta = { retry: { attempts: 0 } };
      await expect(node.submit(wf as unknown as IpldValue)).rejects.toThrow(
        /^tasks\[1\]\.meta\.retry\.attempts: expected an integer from 1 to 20, got 0$/,
      );
    } finally {
      await node.close();
      await log.close();
    }
  });

  it('warns at submission of an await nothing produces, shows it in status, bounds the wait', async () => {
    const log = open();
    const progress: NodeProgress[] = [];
    const topology = { namespace: 'unknown' };
    const node = await createNode(
      init(log, { topology, awaitTimeoutMs: 400, onProgress: (e) => progress.push(e) }),
    );
    runner.available = true;
    try {
      // A chain whose nonces changed but whose second task kept the old await link.
      const old = parseWorkflow(chain(inner.rsc, 1, 1, 'old')).tasks[0]!.instruction;
      const wf = chain(inner.rsc, 2, 1, 'new') as { tasks: Array<{ run: { input: IpldValue } }> };
      wf.tasks[1]!.run.input = { func: 'add_one', args: [{ 'await/ok': old }] };
      const parsed = await node.submit(wf, { name: 'renonced' });
      const warning = `tasks[1].run.input.args[0]: awaits ${old.toString()}, which is not produced by this workflow and not in the memo`;
      expect(parsed.warnings.some((w) => w.startsWith(warning))).toBe(true);
      expect(progress.find((e) => e.type === 'node:await-unknown')).toMatchObject({
        workflow: parsed.cid.toString(),
        awaits: [{ task: 1, path: 'tasks[1].run.input.args[0]', instruction: old.toString() }],
      });
      const views = await readWorkflows(log, createTopology(topology));
      expect(views[0]).toMatchObject({
        name: 'renonced',
        status: 'running',
        unknownAwaits: [`#1 awaits ${old.toString()}`],
      });
      const end = await node.ended(parsed.cid, within(10_000));
      expect(end.type).toBe('workflow/failed');
      expect(end.reason).toBe(
        `tasks[1].run.input.args[0] awaits ${old.toString()}: not produced by this workflow and not in the memo after 400 ms`,
      );
    } finally {
      await node.close();
      await log.close();
    }
  });

  it('resolves an await across workflows from the memo at once, with no warning', async () => {
    const log = open();
    const node = await createNode(init(log, { awaitTimeoutMs: 200 }));
    runner.available = true;
    try {
      const first = parseWorkflow(chain(inner.rsc, 1, 5));
      await node.submit(first.workflow as unknown as IpldValue);
      await node.ended(first.cid, within(10_000));
      const second = chain(inner.rsc, 1, 0, 'part2') as {
        tasks: Array<{ run: { input: IpldValue } }>;
      };
      second.tasks[0]!.run.input = {
        func: 'add_one',
        args: [{ 'await/ok': first.tasks[0]!.instruction }],
      };
      const parsed = await node.submit(second);
      expect(parsed.warnings).toEqual([]);
      const end = await node.ended(parsed.cid, within(10_000));
      expect(end.type).toBe('workflow/completed');
      expect(node.memo.get(parsed.tasks[0]!.instruction.toString())!.body.out).toEqual(['ok', 7]);
    } finally {
      await node.close();
      await log.close();
    }
  });
});
