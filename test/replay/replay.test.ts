// Replay jobs: a range re-indexes exactly its rows; `--verify --reexecute` catches a receipt
// written with a wrong output (processor and CLI, exit 1 naming it).
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cidOf } from '../../schemas/cid.ts';
import {
  decodeEvent,
  encodeEvent,
  type NodeEvent,
  type ReceiptEvent,
} from '../../schemas/events.ts';
import { createFileLog } from '../../streams/file/index.ts';
import { createTopology } from '../../streams/topology.ts';
import { createChdbTableStore } from '../../processors/tables/chdb.ts';
import { receiptEventToRows } from '../../processors/tables/rows.ts';
import { runReplayJob } from '../../processors/replay/job.ts';
import { parseRange } from '../../processors/replay/range.ts';
import { createNode } from '../../processors/engine/node.ts';
import { newReceiptEvent } from '../../processors/engine/receipts.ts';
import { eventRecord } from '../../processors/engine/envelope.ts';
import { mismatchRecorder } from '../../processors/verify/record.ts';
import { createHeliaContentStore } from '../../processors/content/index.ts';
import { createExecutor } from '../../processors/wasm/index.ts';
import { wasmRunner } from '../../processors/wasm-runner.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { chain } from '../conformance/engine.suite.ts';
import { engineModule } from '../harness/core-runner.ts';
import { makeReceiptEvent } from '../tables/make-events.ts';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'ipvm-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('range', () => {
  it('reads offsets, ISO times and durations before now; names the flag', () => {
    const now = Date.parse('2026-01-02T00:00:00Z');
    const r = parseRange({ from: '-24h', to: '2026-01-01T12:00:00Z' }, now);
    expect(r.from).toEqual({ timeMs: Date.parse('2026-01-01T00:00:00Z') });
    expect(r.to).toEqual({ timeMs: Date.parse('2026-01-01T12:00:00Z') });
    expect(parseRange({ from: '10', to: '20' }, now)).toMatchObject({
      from: { offset: 10 },
      to: { offset: 20 },
    });
    expect(() => parseRange({ from: 'yesterday' }, now)).toThrow(/^--from: expected an offset/);
  });
});

describe('replay --into tables over a range', () => {
  it('inserts exactly the rows of the records in the range', async () => {
    const topology = createTopology({ namespace: 'rr', partitions: { pure: 1 } });
    const log = createFileLog({ dir: join(dir, 'tables-log'), fsync: 'none' });
    const store = createChdbTableStore({ dataDir: join(dir, 'tables') });
    try {
      await log.ensureStreams(topology.streams);
      const wf = cidOf({ wf: 'range' });
      const receipts = Array.from({ length: 30 }, (_, i) =>
        makeReceiptEvent({ i, workflow: wf, at: 1000 + i }),
      );
      await log.append(
        topology.name('pure'),
        receipts.map((e) => ({
          key: e.instruction.toString(),
          value: encodeEvent(e as NodeEvent),
        })),
      );
      const range = parseRange({ from: '10', to: '17' }, Date.now());
      const summary = await runReplayJob({ log, topology, job: { into: 'tables', range }, store });
      expect(summary.tables?.receipts).toBe(7);
      const rows = await store.query<{ receipt_cid: string }>(
        'SELECT receipt_cid FROM receipts FINAL ORDER BY receipt_cid',
      );
      const expected = receipts
        .slice(10, 17)
        .map((e) => receiptEventToRows(e).receipt.receipt_cid)
        .sort();
      expect(rows.map((r) => r.receipt_cid)).toEqual(expected);
      // The live indexer's positions did not move.
      expect(await log.committed('ipvm-tables', topology.name('pure'))).toEqual({});
    } finally {
      await store.close();
      await log.close();
    }
  }, 60_000);
});

describe('replay --verify --reexecute', () => {
  const dataDir = join(dir, 'node');
  let corrupted: ReceiptEvent;
  let honest: number;

  beforeAll(async () => {
    // A real node on the data directory runs a 3-task chain over the engine's core module...
    const topology = createTopology({ namespace: 'ipvm' });
    const log = createFileLog({ dir: join(dataDir, 'log'), fsync: 'none' });
    const content = await createHeliaContentStore({ dataDir });
    const executor = createExecutor({ content, cacheDir: join(dataDir, 'cache') });
    try {
      const rsc = `ipfs://${(await content.add(await engineModule())).toString()}`;
      const node = await createNode({
        log,
        runner: wasmRunner(executor),
        topology,
        nodeId: 'honest',
      });
      try {
        const wf = await node.submit(chain(rsc, 3));
        expect((await node.ended(wf.cid, { signal: AbortSignal.timeout(20_000) })).type).toBe(
          'workflow/completed',
        );
      } finally {
        await node.close();
      }
      honest = 3;
      // ...then a faulty node writes a receipt for add_one(41) that says 43.
      const bad = parseWorkflow({
        tasks: [
          {
            run: { rsc, op: 'wasm/run', input: { func: 'add_one', args: [41] }, nnc: 'bad' },
            cause: null,
            meta: {},
            prf: [],
          },
        ],
      }).tasks[0]!;
      corrupted = newReceiptEvent({
        instruction: bad.instruction,
        invocation: bad.invocation,
        workflow: null,
        run: bad.task.run,
        out: ['ok', 43],
        fuel: 1,
        durationMs: 1,
        executor: 'faulty',
        at: Date.now(),
      });
      await log.append(topology.name('pure'), [eventRecord(bad.instruction.toString(), corrupted)]);
      // A producer's plain workflow document on `invocations` (schemas/submission.ts): no
      // receipt, so nothing for a verify job, which reads that stream for replayed receipts.
      await log.append(topology.name('invocations'), [
        { key: 'doc', value: new TextEncoder().encode(JSON.stringify(chain(rsc, 1, 5))) },
      ]);
    } finally {
      await executor.close();
      await content.close();
      await log.close();
    }
  }, 60_000);

  it('the job finds the corrupted output, names it and records it on the verification stream', async () => {
    const topology = createTopology({ namespace: 'ipvm' });
    const log = createFileLog({ dir: join(dataDir, 'log'), fsync: 'none' });
    const content = await createHeliaContentStore({ dataDir });
    const executor = createExecutor({ content, cacheDir: join(dataDir, 'cache') });
    try {
      const recorder = mismatchRecorder(log, topology.name('verification'));
      const s = await runReplayJob({
        log,
        topology,
        job: { into: 'verify', range: parseRange({}, Date.now()), reexecute: 1 },
        runner: wasmRunner(executor),
        recorder,
        executor: 'verifier',
      });
      expect(s.verified).toBe(honest + 1); // the re-hash alone passes: the body is consistent
      expect(s.reexecuted).toBe(honest + 1);
      expect(s.mismatches).toHaveLength(1);
      expect(s.mismatches[0]!.instruction).toBe(corrupted.instruction.toString());
      expect(s.mismatches[0]!.reason).toContain(`recorded ok ${cidOf(43).toString()}`);
      expect(s.mismatches[0]!.reason).toContain(`gave ok ${cidOf(42).toString()}`);
      const recorded = [];
      for await (const r of log.read(topology.name('verification')))
        recorded.push(decodeEvent(r.value));
      expect(recorded).toMatchObject([
        { type: 'verification/mismatch', kind: 'reexecute', func: 'add_one' },
      ]);
      // ...and a tables job puts it in the analysts' table.
      const store = createChdbTableStore({ dataDir: join(dir, 'verify-tables') });
      try {
        await runReplayJob({
          log,
          topology,
          job: { into: 'tables', range: parseRange({}, Date.now()) },
          store,
        });
        const rows = await store.query<{ instruction_cid: string; executors: string[] }>(
          'SELECT instruction_cid, executors FROM verification_mismatches FINAL',
        );
        expect(rows).toEqual([
          {
            instruction_cid: corrupted.instruction.toString(),
            executors: ['recorded:faulty', 'verifier'],
          },
        ]);
      } finally {
        await store.close();
      }
      // A sample of 0.5 with one seed re-executes a fixed subset, the same every time.
      const half = () =>
        runReplayJob({
          log,
          topology,
          job: { into: 'verify', range: parseRange({}, Date.now()), reexecute: 0.5, seed: 7 },
          runner: wasmRunner(executor),
        });
      const [a, b] = [await half(), await half()];
      expect(a.reexecuted).toBe(b.reexecuted);
      expect(a.mismatches).toEqual(b.mismatches);
    } finally {
      await executor.close();
      await content.close();
      await log.close();
    }
  }, 60_000);

  it('ipvm replay --verify --reexecute exits 1 naming the instruction; --json has the summary', async () => {
    const run = async (args: string[]) => {
      try {
        const { stdout } = await exec(
          process.execPath,
          [join(root, 'cli', 'bin.js'), ...args, '--data-dir', dataDir],
          { cwd: root },
        );
        return { code: 0, stdout };
      } catch (err) {
        return err as { code: number; stdout: string; stderr: string };
      }
    };
    const recorded = async (): Promise<number> => {
      const log = createFileLog({ dir: join(dataDir, 'log'), readOnly: true });
      let n = 0;
      try {
        for await (const _ of log.read('ipvm.verification')) n++;
      } finally {
        await log.close();
      }
      return n;
    };
    const before = await recorded();
    const res = await run(['replay', '--verify', '--reexecute', '--json']);
    expect(res.code).toBe(1);
    expect(await recorded()).toBe(before + 1); // the CLI records what it found
    const summary = JSON.parse(res.stdout) as {
      verified: number;
      reexecuted: number;
      mismatches: Array<{ instruction: string; reason: string }>;
    };
    expect(summary).toMatchObject({ verified: honest + 1, reexecuted: honest + 1 });
    expect(summary.mismatches.map((m) => m.instruction)).toEqual([
      corrupted.instruction.toString(),
    ]);
    // A range ending before the faulty node wrote leaves the lie out: exit 0.
    const upTo = await run([
      'replay',
      '--verify',
      '--reexecute',
      '--to',
      new Date(corrupted.at).toISOString(),
    ]);
    expect(upTo.code, upTo.stdout).toBe(0);
    expect(upTo.stdout).toMatch(
      new RegExp(
        `verified ${honest} receipts, ${honest} of ${honest} pure tasks re-executed, 0 mismatches`,
      ),
    );
  }, 60_000);
});
