import { describe, expect, it } from 'vitest';
import {
  cidOf,
  dagCbor,
  decodeEvent,
  encodeEvent,
  encodeEventRecord,
  plainArgs,
  encodeReceipt,
  EVENT_VERSION,
  IpldFloat,
  knownEncoding,
  parseWorkflow,
  rememberEncoding,
  type IpldMap,
  type NodeEvent,
} from '../../schemas/index.ts';

const WASM = 'ipfs://bafybeibk42jwhq7w2zcpe6q3wgtleugp3ymfs3pa5gerjmnakqihhqx4zq';
const run = { rsc: WASM, op: 'wasm/run', input: { func: 'add_one', args: [1] }, nnc: '' };
const parsed = parseWorkflow({
  tasks: [{ run, cause: null, meta: { fuel: new IpldFloat(1e6) }, prf: [] }],
});
const t = parsed.tasks[0]!;
const receipt = encodeReceipt({
  ran: t.invocation,
  out: ['ok', 2],
  meta: { op: 'add_one' },
  iss: null,
  prf: [],
});
const failed = encodeReceipt({ ...receipt.receipt, out: ['error', { message: 'trap' }] });
const at = 1_700_000_000_123;

const events: NodeEvent[] = [
  { type: 'workflow/submitted', workflow: parsed.cid, body: parsed.workflow, name: 'add', at },
  { type: 'workflow/submitted', workflow: parsed.cid, body: parsed.workflow, name: null, at },
  {
    type: 'workflow/submitted',
    workflow: parsed.cid,
    body: null,
    source: { partition: 0, offset: 7, tasks: 1 },
    name: null,
    at,
  },
  {
    type: 'workflow/completed',
    workflow: parsed.cid,
    receipts: [parsed.cid],
    failed: [],
    reason: null,
    replayed: 1,
    at,
  },
  {
    type: 'task/ready',
    workflow: parsed.cid,
    instruction: t.instruction,
    invocation: t.invocation,
    task: t.task,
    args: [1],
    at,
  },
  {
    type: 'task/ready',
    workflow: null,
    instruction: t.instruction,
    invocation: t.invocation,
    task: t.task,
    args: [],
    at,
  },
  {
    type: 'receipt',
    instruction: t.instruction,
    invocation: t.invocation,
    receipt: receipt.cid,
    workflow: parsed.cid,
    run: t.task.run,
    body: receipt.receipt,
    replayed: false,
    fuel: 1234,
    durationMs: 0.25,
    executor: 'node-a',
    at,
  },
  {
    type: 'receipt',
    instruction: t.instruction,
    invocation: t.invocation,
    receipt: failed.cid,
    workflow: null,
    run: t.task.run,
    body: failed.receipt,
    replayed: true,
    fuel: null,
    durationMs: null,
    executor: 'node-b',
    at,
  },
  {
    type: 'workflow/completed',
    workflow: parsed.cid,
    receipts: [receipt.cid],
    failed: [],
    reason: null,
    at,
  },
  {
    type: 'workflow/failed',
    workflow: parsed.cid,
    receipts: [],
    failed: [t.instruction],
    reason: 'timeout',
    at,
  },
  {
    type: 'dead-letter',
    stream: 'invocations',
    partition: 0,
    offset: 42,
    reason: 'dag-json at byte 3: …',
    bytes: new Uint8Array([1, 2, 3]),
    at,
  },
];

describe('event envelopes', () => {
  for (const event of events) {
    it(`${event.type} survives encode → decode`, () => {
      const bytes = encodeEvent(event);
      expect(decodeEvent(bytes)).toEqual(event);
      const raw = dagCbor.decode(bytes) as IpldMap;
      expect(raw.v).toBe(EVENT_VERSION);
      // Observations sit beside the content-addressed objects: the receipt CID is unchanged.
      if (event.type === 'receipt')
        expect(cidOf(raw.body).toString()).toBe(event.receipt.toString());
    });
  }

  it('writes every envelope, and each record of one, as the general encoding does', () => {
    // The envelopes a node writes most have their keys' order worked out once (encodeEvent);
    // the general way — sort the keys of `{v, ...event}` each time — is the oracle.
    const ran = events.find((e) => e.type === 'receipt')!;
    if (ran.type !== 'receipt') throw new Error('no receipt event');
    const signed: NodeEvent = {
      ...ran,
      attempts: 3,
      iss: 'did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK',
      sig: new Uint8Array(64).fill(7),
    };
    const withProofs: NodeEvent = {
      type: 'workflow/submitted',
      workflow: parsed.cid,
      body: parsed.workflow,
      name: 'ünïcode name',
      proofs: { bafy: 'eyJ0eXAiOiJKV1QifQ' },
      at,
    };
    const general = (e: object): string =>
      Buffer.from(dagCbor.encode({ v: EVENT_VERSION, ...e })).toString('hex');
    for (const event of [...events, signed, withProofs]) {
      if (event.type === 'task/ready') continue; // its own args are left out (below)
      const expected = general(event);
      expect(Buffer.from(encodeEvent(event)).toString('hex'), event.type).toBe(expected);
      expect(Buffer.from(encodeEventRecord(event)).toString('hex'), event.type).toBe(expected);
    }
    // Anything else takes the general way, the same bytes and the same errors: a key outside
    // the type's, an envelope field given by the event, an undefined field.
    const end = events.find((e) => e.type === 'workflow/completed')!;
    const extra = { ...end, note: 'not an end field' } as unknown as NodeEvent;
    expect(Buffer.from(encodeEventRecord(extra)).toString('hex')).toBe(general(extra));
    expect((dagCbor.decode(encodeEventRecord(extra)) as IpldMap).note).toBe('not an end field');
    const v2 = { ...end, v: 2 } as unknown as NodeEvent;
    expect((dagCbor.decode(encodeEvent(v2)) as IpldMap).v).toBe(2);
    expect(() => encodeEvent({ ...signed, sig: undefined })).toThrow(
      /undefined \(under key "sig"\)/,
    );
  });

  it('keeps each record intact when records share a buffer', () => {
    // Records handed to a log are cut from shared blocks: each must keep its own bytes as
    // more are written after it, blocks filling up and new ones starting.
    const receipts = events.filter((e) => e.type === 'receipt');
    const written: Array<[Uint8Array, string]> = [];
    for (let i = 0; i < 200; i++) {
      const event = { ...receipts[i % receipts.length]!, at: at + i, executor: `node-${i}` };
      const bytes = encodeEventRecord(event);
      written.push([bytes, Buffer.from(encodeEvent(event)).toString('hex')]);
    }
    const buffers = new Set(written.map(([b]) => b.buffer));
    expect(buffers.size).toBeGreaterThan(1);
    expect(buffers.size).toBeLessThan(written.length);
    for (const [bytes, expected] of written) {
      expect(Buffer.from(bytes).toString('hex')).toBe(expected);
      expect(decodeEvent(bytes).type).toBe('receipt');
    }
  });

  it('refuses a submission with neither a body nor a valid source, naming the field', () => {
    const base = {
      v: EVENT_VERSION,
      type: 'workflow/submitted',
      workflow: parsed.cid,
      name: null,
      at,
    };
    expect(() => decodeEvent(dagCbor.encode({ ...base, body: null }))).toThrow(
      /source: expected \{partition, offset, tasks\}/,
    );
    expect(() =>
      decodeEvent(
        dagCbor.encode({ ...base, body: null, source: { partition: 0, offset: -1, tasks: 1 } }),
      ),
    ).toThrow(/source\.offset: expected a count/);
    expect(() =>
      decodeEvent(
        dagCbor.encode({
          v: EVENT_VERSION,
          type: 'workflow/completed',
          workflow: parsed.cid,
          receipts: [],
          failed: [],
          reason: null,
          replayed: 1.5,
          at,
        }),
      ),
    ).toThrow(/replayed: expected a count/);
  });

  it("does not write a task/ready's args a second time when they are its task's own", () => {
    const own: NodeEvent = {
      type: 'task/ready',
      workflow: parsed.cid,
      instruction: t.instruction,
      invocation: t.invocation,
      task: t.task,
      args: plainArgs(t.task),
      at,
    };
    const copied: NodeEvent = { ...own, args: structuredClone(plainArgs(t.task)) };
    const raw = dagCbor.decode(encodeEvent(own)) as IpldMap;
    expect('args' in raw).toBe(false);
    expect((dagCbor.decode(encodeEvent(copied)) as IpldMap).args).toEqual([1]);
    // Both read back the same.
    expect(decodeEvent(encodeEvent(own))).toEqual(decodeEvent(encodeEvent(copied)));
  });

  it('copies the bytes a workflow or a receipt was hashed from, the same as encoding them', () => {
    // A fresh copy: the same value, whose encoding nobody remembered.
    const fresh = <T>(v: T): T => dagCbor.decode(dagCbor.encode(v)) as T;
    rememberEncoding(receipt.receipt, receipt.bytes); // as the engine's newReceiptEvent does
    const submitted = events.find((e) => e.type === 'workflow/submitted' && e.body !== null)!;
    const ran = events.find((e) => e.type === 'receipt' && e.body === receipt.receipt)!;
    expect(submitted.type === 'workflow/submitted' && knownEncoding(submitted.body!)).toEqual(
      parsed.bytes,
    );
    expect(knownEncoding(t.task.run)).toEqual(t.instructionBytes);
    for (const [event, copy] of [
      [submitted, { ...submitted, body: fresh(parsed.workflow) }],
      // (its instruction as parseWorkflow remembered it, then as a fresh copy)
      [ran, { ...ran, body: fresh(receipt.receipt), run: fresh(t.task.run) }],
    ] as const) {
      expect(Buffer.from(encodeEvent(event)).toString('hex')).toBe(
        Buffer.from(encodeEvent(copy as NodeEvent)).toString('hex'),
      );
    }
    // Copied, not encoded again: a value remembered with other bytes is written as those.
    const value = { a: 1 };
    rememberEncoding(value, dagCbor.encode({ b: 2 }));
    expect(dagCbor.decode(dagCbor.encode({ x: value }))).toEqual({ x: { b: 2 } });
    // Only as a field of the value encoded: the value itself, or deeper, is walked.
    expect(dagCbor.decode(dagCbor.encode(value))).toEqual({ a: 1 });
    expect(dagCbor.decode(dagCbor.encode({ x: { y: value } }))).toEqual({ x: { y: { a: 1 } } });
  });

  it('keeps integral floats in task metadata (the task CID depends on them)', () => {
    const decoded = decodeEvent(encodeEvent(events.find((e) => e.type === 'task/ready')!));
    expect(decoded.type === 'task/ready' && decoded.task.meta).toEqual({
      fuel: new IpldFloat(1e6),
    });
  });
});
