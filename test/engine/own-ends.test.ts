// A workflow's end appended by this node is given out (IpvmNode.ended, ends(), the ended
// registry) once its append is durable, not once the live follow reads it back
// (processors/engine/own-ends.ts). The read back of `invocations` is held here: `ended` must
// resolve meanwhile, and once the read back goes on nothing is given out twice or undone.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log, LogRecord, ReadOptions } from '../../streams/log.ts';
import { createNode, type IpvmNode } from '../../processors/engine/node.ts';
import { ROUTING } from '../../processors/engine/envelope.ts';
import type { WorkflowEndedEvent } from '../../schemas/events.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { addOneTask, chain } from '../conformance/engine.suite.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';
import { logWith } from '../harness/log-with.ts';

let dir: string;
let runner: CoreRunner;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-own-ends-'));
  runner = await createCoreRunner();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/**
 * The file log, with the read back of `invocations` held at its first record of `type` once
 * `hold()` was called, until `release()`.
 */
function heldReads(type: string): {
  log: Log;
  hold: () => void;
  release: () => void;
  /** Resolves when a read reached a held record. */
  reached: Promise<void>;
} {
  const inner = createFileLog({ dir, fsync: 'batch' });
  let holding = false;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let reach!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const log = logWith(inner, {
    read: (stream: string, options?: ReadOptions) => {
      const records = inner.read(stream, options);
      if (!stream.endsWith('.invocations') || options?.follow !== true) return records;
      return (async function* (): AsyncGenerator<LogRecord> {
        for await (const record of records) {
          if (holding && record.headers[ROUTING.type] === type) {
            reach();
            await gate;
          }
          yield record;
        }
      })();
    },
  });
  return { log, hold: () => (holding = true), release, reached };
}

/** `promise`, or a rejection after `ms` (a hang is the failure these tests look for). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** What tells two ends apart. */
const summary = (e: WorkflowEndedEvent): string =>
  `${e.type} ${e.workflow.toString()} at ${e.at} replayed ${e.replayed ?? 0} ${e.receipts.join()}`;

/** Waits until the live follow has read every record appended so far. */
async function caughtUp(node: IpvmNode): Promise<void> {
  while ((await node.behind()) > 0) await new Promise((resolve) => setTimeout(resolve, 5));
}

/**
 * Runs `test` against a node on a log whose read back of `invocations` can be held at its first
 * end (see heldReads), with every end the node gives out collected; closes all of it after.
 */
async function withHeldNode(
  test: (t: {
    node: IpvmNode;
    ends: WorkflowEndedEvent[];
    hold: () => void;
    release: () => void;
    reached: Promise<void>;
  }) => Promise<void>,
): Promise<void> {
  const { log, hold, release, reached } = heldReads('workflow/completed');
  const node = await createNode({ log, runner, nodeId: 'n' });
  const ends: WorkflowEndedEvent[] = [];
  const sub = node.ends().subscribe((e) => ends.push(e));
  try {
    await test({ node, ends, hold, release, reached });
  } finally {
    release();
    sub.unsubscribe();
    await node.close();
    await log.close();
  }
}

describe('an end this node appends', () => {
  it('is given out once durable, while its read back is held, and once only', () =>
    withHeldNode(async ({ node, ends, hold, release, reached }) => {
      hold();
      const wf = parseWorkflow({ tasks: [addOneTask(runner.rsc, 41)] });
      await node.submit(wf);
      const end = await within(node.ended(wf.cid), 10_000, 'ended() with the read back held');
      expect(end.type).toBe('workflow/completed');
      await reached; // the read back did reach the end, and waits
      expect(ends).toHaveLength(1);
      release();
      await caughtUp(node);
      // Read back now: not given out again, and the registry answers with the same end.
      expect(ends).toHaveLength(1);
      expect(summary(await node.ended(wf.cid))).toEqual(summary(end));
    }));

  it("of a re-run is not undone when the run's submission is read back before it", () =>
    withHeldNode(async ({ node, ends, hold, release, reached }) => {
      const wf = chain(runner.rsc, 3);
      const cid = parseWorkflow(wf).cid;
      await node.submit(wf);
      const first = await node.ended(cid);
      await caughtUp(node);
      // The re-run is a memo hit: its submission and end are appended together and its end is
      // given out once durable. The read back folds the submission, then waits at the end.
      hold();
      await node.submit(wf);
      await reached;
      const again = await within(node.ended(cid), 10_000, 'ended() of the re-run, read back held');
      expect(again.replayed).toBe(3);
      expect(again.at).toBeGreaterThanOrEqual(first.at);
      release();
      await caughtUp(node);
      const after = await within(node.ended(cid), 10_000, 'ended() after the read back');
      expect(summary(after)).toEqual(summary(again));
      expect(ends.filter((e) => e.workflow.equals(cid)).map(summary)).toEqual(
        [first, again].map(summary),
      );
      expect(runner.total).toBe(3);
    }));
});
