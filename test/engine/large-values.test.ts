// Large values stored once (processors/blocks): a workflow whose argument and results are large
// run by the engine over the log every node process opens (openLog wraps it so). Each distinct
// value is in the log once, as a block; every record still reads back whole, across a restart,
// and a record whose block cannot be read is dead-lettered with the reason.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log, LogRecord } from '../../streams/log.ts';
import { createTopology } from '../../streams/topology.ts';
import { BLOCKS_HEADER, mayHoldLarge, withBlocks } from '../../processors/blocks/blocks-log.ts';
import { dagCbor } from '../../schemas/codecs.ts';
import { createNode, type IpvmNode } from '../../processors/engine/node.ts';
import type { RunRequest, RunResult, TaskRunner } from '../../processors/engine/execute-tasks.ts';
import { decodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import { deadLetterInfo } from '../../streams/dead-letter.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';

const RSC = 'ipfs://bafkreigc4g7ygs4m7ojs3dkqt64rjmyrdpglyo36ltd6462pf4pytn4weu';
const BIG = 'v'.repeat(1 << 20); // 1 MiB

/** `grow(s)`: s + '!'. Counts its calls. */
function growRunner(): TaskRunner & { calls: number } {
  const runner = {
    calls: 0,
    execute(request: RunRequest): Promise<RunResult> {
      runner.calls++;
      return Promise.resolve({
        ok: true,
        value: `${request.args[0] as string}!`,
        fuel: 1,
        durationMs: 0,
      });
    },
  };
  return runner;
}

/** grow(BIG) → grow(await it): three distinct large values, the second in two places. */
function workflow(): IpldValue {
  const task = (args: IpldValue[]): IpldValue => ({
    run: { rsc: RSC, op: 'wasm/run', input: { func: 'grow', args }, nnc: '' },
    cause: null,
    meta: {},
    prf: [],
  });
  const first = task([BIG]);
  const instruction = parseWorkflow({ tasks: [first] }).tasks[0]!.instruction;
  return { tasks: [first, task([{ 'await/ok': instruction }])] };
}

async function records(log: Log, stream: string): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for await (const r of log.read(stream)) out.push(r);
  return out;
}

const topology = createTopology({ namespace: 'large' });
const stream = {
  blocks: topology.name('blocks'),
  invocations: topology.name('invocations'),
  pure: topology.name('pure'),
  deadLetter: topology.name('dead-letter'),
};
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-large-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});
/** The file log as the composition root opens it (processors/compose/open-log.ts). */
function open(): { log: Log; raw: Log } {
  const raw = createFileLog({ dir: join(dir, 'log') });
  return { raw, log: withBlocks(raw, { stream: stream.blocks }) };
}

describe('large values stored once', () => {
  it('holds each distinct large value once, and every record reads back whole', async () => {
    const wf = workflow();
    const cid = parseWorkflow(wf).cid;
    const runner = growRunner();
    let { log, raw } = open();
    let node: IpvmNode = await createNode({ log, runner, nodeId: 'n', topology });
    let receipts: string[];
    try {
      await node.submit(wf);
      const end = await node.ended(cid);
      expect(end.type).toBe('workflow/completed');
      receipts = end.receipts.map(String);
      expect(runner.calls).toBe(2);

      // Three values: BIG, BIG!, BIG!! — one block each (3 chunks of 512 KiB each), while
      // without blocks the records held six copies (submission, ready task, receipt's
      // instruction, first result, second task's argument, second result).
      const blocks = await records(raw, stream.blocks);
      expect(new Set(blocks.map((b) => b.key)).size).toBe(3);
      expect(blocks).toHaveLength(9);
      let other = 0;
      for (const s of [stream.invocations, stream.pure])
        for (const r of await records(raw, s)) other += r.value.byteLength;
      expect(other).toBeLessThan(64 * 1024);
      const linked = (await records(raw, stream.pure)).filter((r) => r.headers[BLOCKS_HEADER]);
      expect(linked).toHaveLength(2);

      // Read through the wrapper, the receipts are whole.
      const read = (await records(log, stream.pure)).map((r) => decodeEvent(r.value));
      const outs = (read as ReceiptEvent[]).map((e) => e.body.out[1]).sort();
      expect(outs).toEqual([`${BIG}!`, `${BIG}!!`]);
    } finally {
      await node.close();
      await log.close();
    }

    // A restarted node rebuilds its memo from the linked records and replays the workflow,
    // writing no block again.
    ({ log, raw } = open());
    node = await createNode({ log, runner, nodeId: 'n', topology });
    try {
      await node.submit(wf);
      const end = await node.ended(cid);
      expect(end.receipts.map(String)).toEqual(receipts);
      expect(end.replayed).toBe(2);
      expect(runner.calls).toBe(2);
      expect(await records(raw, stream.blocks)).toHaveLength(9);
    } finally {
      await node.close();
      await log.close();
    }
  });

  it('dead-letters a record whose block cannot be read, with where and why', async () => {
    // A linked submission written under another namespace, copied byte for byte (headers too)
    // to this one, whose blocks stream does not hold its block.
    const elsewhere = createTopology({ namespace: 'elsewhere' });
    const opened = open();
    const raw = opened.raw;
    let log = opened.log;
    const source = withBlocks(raw, { stream: elsewhere.name('blocks') });
    let node = await createNode({
      log: source,
      runner: growRunner(),
      nodeId: 'n',
      topology: elsewhere,
      execute: false,
    });
    await node.submit(workflow());
    await node.close();
    const submitted = (await records(raw, elsewhere.name('invocations'))).find(
      (r) => r.headers[BLOCKS_HEADER] !== undefined,
    )!;
    await raw.ensureStreams(topology.streams);
    const [bad] = await raw.append(stream.invocations, [
      { key: submitted.key, value: submitted.value, headers: submitted.headers },
    ]);
    await log.close();

    // Present when the node starts: recovery dead-letters it, once over two starts.
    for (let start = 0; start < 2; start++) {
      ({ log } = open());
      node = await createNode({ log, runner: growRunner(), nodeId: 'n', topology, execute: false });
      try {
        const letters = (await records(log, stream.deadLetter)).map((r) => deadLetterInfo(r)!);
        expect(letters).toHaveLength(1);
        expect(letters[0]).toMatchObject({
          stream: stream.invocations,
          partition: bad!.partition,
          offset: bad!.offset,
        });
        expect(letters[0]!.reason).toContain('ipvm:blocks');
        expect(letters[0]!.reason).toContain(
          `${stream.invocations}/${bad!.partition}@${bad!.offset}`,
        );
        expect(letters[0]!.reason).toMatch(/block bafy\w+ is not in the log/);
      } finally {
        await node.close();
        await log.close();
      }
    }
  });
});

describe('the byte scan that spares records without a large value a second decode', () => {
  const T = 64 * 1024;
  it('finds a large string or bytes value anywhere, in a record of any size', () => {
    for (const value of ['s'.repeat(T), new Uint8Array(T), 'é'.repeat(T / 2)])
      expect(mayHoldLarge(dagCbor.encode({ v: 1, deep: [{ x: [1, value] }] }), T)).toBe(true);
    expect(mayHoldLarge(dagCbor.encode({ v: 1, s: 's'.repeat(T - 1) }), T)).toBe(false);
  });

  it('passes over a 20 000-task submission and its end, which hold none', () => {
    const tasks = Array.from({ length: 20_000 }, (_, i) => ({
      run: { rsc: RSC, op: 'wasm/run', input: { func: 'add_one', args: [i] }, nnc: '' },
      cause: null,
      meta: {},
      prf: [],
    }));
    const parsed = parseWorkflow({ tasks });
    const submission = dagCbor.encode({ v: 1, body: parsed.workflow, workflow: parsed.cid });
    const end = dagCbor.encode({ v: 1, receipts: parsed.tasks.map((t) => t.instruction) });
    expect(submission.byteLength).toBeGreaterThan(T);
    expect(end.byteLength).toBeGreaterThan(T);
    expect(mayHoldLarge(submission, T)).toBe(false);
    expect(mayHoldLarge(end, T)).toBe(false);
  });
});
