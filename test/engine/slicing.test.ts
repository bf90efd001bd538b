// The engine's time slices: a wide workflow lets the event loop turn while it runs (timers fire,
// I/O is served), and a long append encoded a chunk at a time keeps the order of the appends on
// its stream.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log, LogRecord } from '../../streams/log.ts';
import { createCore } from '../../processors/engine/core.ts';
import { createNode } from '../../processors/engine/node.ts';
import { cancelEvent } from '../../processors/engine/cancel.ts';
import { SLICE_MS, sliceOver } from '../../processors/engine/operators.ts';
import { decodeRecord } from '../../processors/engine/envelope.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { NodeEvent } from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { createCoreRunner } from '../harness/core-runner.ts';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function openLog(): Promise<Log> {
  const dir = await mkdtemp(join(tmpdir(), 'ipvm-slice-'));
  // fsync none: appends settle without I/O, so nothing but the slices lets the loop turn.
  const log = createFileLog({ dir, fsync: 'none' });
  cleanup.push(async () => {
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });
  return log;
}

/** Uses up the current time slice: the next check of it asks for a turn of the event loop. */
function useUpSlice(): void {
  sliceOver(); // the slice starts at its first check
  const until = performance.now() + SLICE_MS + 1;
  while (performance.now() < until) {
    // spin
  }
}

function addOne(rsc: string, i: number): IpldValue {
  return {
    run: { rsc, op: 'wasm/run', input: { func: 'add_one', args: [i] }, nnc: '' },
    cause: null,
    meta: {},
    prf: [],
  };
}

async function readAll(log: Log, stream: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  const partitions = await log.partitions(stream);
  for (let partition = 0; partition < partitions; partition++)
    for await (const r of log.read(stream, { partition, from: 'earliest' })) out.push(r);
  return out;
}

describe('time slices', () => {
  it('lets a setTimeout chain make progress while a wide workflow runs', async () => {
    const log = await openLog();
    const runner = await createCoreRunner();
    const node = await createNode({ log, runner, concurrency: 16 });
    cleanup.push(() => node.close());
    const parsed = parseWorkflow({
      tasks: Array.from({ length: 5_000 }, (_, i) => addOne(runner.rsc, i)),
    });
    let fired = 0;
    let running = true;
    const tick = (): void => {
      if (!running) return;
      fired++;
      setTimeout(tick, 0);
    };
    setTimeout(tick, 0);
    await node.submit(parsed);
    const end = await node.ended(parsed.cid);
    running = false;
    expect(end.type).toBe('workflow/completed');
    expect(runner.total).toBe(5_000);
    // Without the slices the backlog resolves as microtasks and the chain waits for its end.
    expect(fired).toBeGreaterThanOrEqual(5);
  });

  it('keeps the order of appends made while a long append is encoded', async () => {
    const log = await openLog();
    const runner = await createCoreRunner();
    const core = await createCore({ log, runner });
    cleanup.push(() => Promise.resolve(core.abort()));
    const stream = core.streams.invocations;
    const workflow = parseWorkflow({ tasks: [addOne(runner.rsc, 0)] }).cid;
    const key = workflow.toString(); // one key: one partition, whose order is the stream's
    const cancels = (from: number, n: number): NodeEvent[] =>
      Array.from({ length: n }, (_, i) => cancelEvent(workflow, `r${from + i}`, from + i));
    const keys = (n: number): string[] => Array.from({ length: n }, () => key);

    useUpSlice();
    const appends = [
      core.appendEvents(stream, cancels(0, 1_000), keys(1_000)), // long: yields while encoded
      core.appendEvents(stream, cancels(1_000, 1), keys(1)), // short, made meanwhile
      core.appendEvents(stream, cancels(1_001, 700), keys(700)), // long again
      core.appendEvents(stream, cancels(1_701, 2), keys(2)),
    ];
    await Promise.all(appends);

    const reasons = (await readAll(log, stream)).map((r) => {
      const d = decodeRecord(r);
      if (d instanceof Error) throw d;
      return d.event.type === 'workflow/cancel' ? d.event.reason : null;
    });
    expect(reasons).toEqual(Array.from({ length: 1_703 }, (_, i) => `r${i}`));
  });
});
