// The producer contract of `invocations`: a plain workflow document (DAG-JSON or DAG-CBOR, no
// envelope) is run, with the CIDs the node computes; a bad one is dead-lettered AND answered
// on `invocations` under its own key with a located reason.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createNode } from '../../processors/engine/node.ts';
import { createFileLog } from '../../streams/file/index.ts';
import { dagCbor } from '../../schemas/codecs.ts';
import { decodeEvent, encodeEvent } from '../../schemas/events.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { decodeInvocation } from '../../schemas/submission.ts';
import { createCoreRunner } from '../harness/core-runner.ts';

function workflowJson(rsc: string, arg: number): string {
  return JSON.stringify({
    name: 'from-a-producer',
    workflow: {
      tasks: [
        {
          run: { rsc, op: 'wasm/run', input: { func: 'add_one', args: [arg] }, nnc: '' },
          meta: {},
          prf: [],
          cause: null,
        },
      ],
    },
  });
}

describe('decodeInvocation', () => {
  it('takes an envelope, or a workflow document as the event the node would write', () => {
    const text = workflowJson(
      'ipfs://bafkreigc4g7ygs4m7ojs3dkqt64rjmyrdpglyo36ltd6462pf4pytn4weu',
      1,
    );
    const parsed = parseWorkflow(text);
    const fromJson = decodeInvocation(new TextEncoder().encode(text), 5);
    expect(fromJson).toMatchObject({ type: 'workflow/submitted', name: 'from-a-producer', at: 5 });
    expect(fromJson.type === 'workflow/submitted' && fromJson.workflow.equals(parsed.cid)).toBe(
      true,
    );
    const cbor = dagCbor.encode({ name: 'from-a-producer', workflow: parsed.workflow });
    const fromCbor = decodeInvocation(cbor, 5);
    expect(fromCbor.type === 'workflow/submitted' && fromCbor.workflow.equals(parsed.cid)).toBe(
      true,
    );
    const envelope = encodeEvent(fromJson);
    expect(decodeInvocation(envelope, 9)).toEqual(decodeEvent(envelope));
  });

  it('rejects with the location: the workflow field, or the envelope field', () => {
    const bad = new TextEncoder().encode('{"tasks": [{"run": 5}]}');
    expect(() => decodeInvocation(bad, 0)).toThrow(/tasks\[0\]\.run/);
    expect(() => decodeInvocation(new TextEncoder().encode('not json'), 0)).toThrow(
      /not an event nor a workflow document/,
    );
    const wrongVersion = dagCbor.encode({ v: 7, type: 'workflow/submitted', at: 1 });
    expect(() => decodeInvocation(wrongVersion, 0)).toThrow(/unsupported event version/);
    // An envelope with its fields broken (here `at`) is not taken for the workflow document it
    // holds, even under `tasks` (a case fuzz.test.ts found, seed 1465721565).
    const broken = dagCbor.encode({
      v: 1,
      type: 'workflow/submitted',
      at: new Uint8Array(6),
      name: null,
      tasks: [],
    });
    expect(() => decodeInvocation(broken, 0)).toThrow(/at: expected a number/);
  });
});

describe('a producer writing workflow documents to invocations', () => {
  it('gets them run, and sees a rejection under its own key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ipvm-producer-'));
    const log = createFileLog({ dir });
    const runner = await createCoreRunner();
    const node = await createNode({ log, runner });
    try {
      const text = workflowJson(runner.rsc, 41);
      const cid = parseWorkflow(text).cid;
      const ended = node.ended(cid);
      await log.append('ipvm.invocations', [
        { key: 'order-1', value: new TextEncoder().encode(text) },
      ]);
      const end = await ended;
      expect(end.type).toBe('workflow/completed');
      expect(node.memo.get(parseWorkflow(text).tasks[0]!.instruction.toString())?.body.out).toEqual(
        ['ok', 42],
      );

      await log.append('ipvm.invocations', [
        { key: 'order-2', value: new TextEncoder().encode('{"tasks": [{"run": 5}]}') },
      ]);
      const deadline = Date.now() + 10_000;
      let rejected: ReturnType<typeof decodeEvent> | undefined;
      let deadLetters = 0;
      while (rejected === undefined && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        for await (const r of log.read('ipvm.invocations', { from: 'earliest' })) {
          if (r.key !== 'order-2') continue;
          try {
            const e = decodeEvent(r.value);
            if (e.type === 'workflow/rejected') rejected = e;
          } catch {
            // the rejected record itself
          }
        }
        deadLetters = 0;
        for await (const _ of log.read('ipvm.dead-letter', { from: 'earliest' })) deadLetters++;
      }
      expect(rejected).toMatchObject({
        type: 'workflow/rejected',
        key: 'order-2',
        stream: 'ipvm.invocations',
      });
      expect((rejected as { reason: string }).reason).toMatch(/tasks\[0\]\.run/);
      expect(deadLetters).toBe(1);
    } finally {
      await node.close();
      await log.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
