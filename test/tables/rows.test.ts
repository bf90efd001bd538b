// Row mapping: a pure, deterministic function of the event.
import { CID } from 'multiformats/cid';
import { describe, expect, it } from 'vitest';
import { cidOf } from '../../schemas/cid.ts';
import { dagCbor, dagJson } from '../../schemas/codecs.ts';
import { decodeEvent, encodeEvent } from '../../schemas/events.ts';
import { RowMappingError } from '../../processors/tables/errors.ts';
import { receiptEventToRows, workflowEventToRow } from '../../processors/tables/rows.ts';
import { makeEnded, makeReceiptEvent, makeSubmitted, WASM } from './make-events.ts';

describe('receiptEventToRows', () => {
  it('maps every column and addresses the output', () => {
    const wf = cidOf({ workflow: 'w' });
    const e = makeReceiptEvent({ i: 7, func: 'add', workflow: wf, at: 1234.9 });
    const { receipt } = receiptEventToRows(e);
    expect(receipt).toEqual({
      instruction_cid: e.instruction.toString(),
      receipt_cid: e.receipt.toString(),
      invocation_cid: e.invocation.toString(),
      workflow_cid: wf.toString(),
      op: 'wasm/run',
      function: 'add',
      resource_cid: WASM.toString(),
      outcome: 'ok',
      output: '14',
      output_cid: cidOf(14).toString(),
      fuel: 1007,
      duration_ms: 0.5,
      executor: 'node-a',
      at_ms: 1234,
      replayed: 0,
    });
    // sha3-256 + dag-cbor: a bafyrmi… CID, the IPVM profile.
    expect(receipt.output_cid).toMatch(/^bafyrmi/);
    expect(CID.parse(receipt.output_cid).code).toBe(dagCbor.code);
  });

  it('writes outputs holding links and bytes as DAG-JSON', () => {
    const e = makeReceiptEvent({ i: 1 });
    const value = { link: WASM, bytes: new Uint8Array([1, 2, 3]), list: [1.5, 'x', null] };
    const event = { ...e, body: { ...e.body, out: ['ok', value] as const } };
    const { receipt } = receiptEventToRows(event);
    expect(JSON.parse(receipt.output)).toEqual({
      bytes: { '/': { bytes: 'AQID' } },
      link: { '/': WASM.toString() },
      list: [1.5, 'x', null],
    });
    expect(receipt.output_cid).toBe(cidOf(value).toString());
  });

  it('records the resource and every argument link once, with its path', () => {
    const data = cidOf({ d: 1 });
    const dep = makeReceiptEvent({ i: 1 });
    const e = makeReceiptEvent({ i: 2, links: [data, data], awaits: dep.instruction });
    const { lineage } = receiptEventToRows(e);
    expect(lineage.map((l) => [l.input_cid, l.role, l.path])).toEqual([
      [WASM.toString(), 'resource', 'rsc'],
      [data.toString(), 'arg', 'args/1/data'],
      [dep.instruction.toString(), 'arg', 'args/3/await/ok'],
    ]);
    for (const l of lineage) {
      expect(l).toMatchObject({
        instruction_cid: e.instruction.toString(),
        receipt_cid: e.receipt.toString(),
        function: 'add',
        outcome: 'ok',
      });
    }
  });

  it('is deterministic across an encode/decode round trip', () => {
    const e = makeReceiptEvent({ i: 3, error: true, replayed: true, fuel: null, durationMs: null });
    const again = decodeEvent(encodeEvent(e));
    if (again.type !== 'receipt') throw new Error('not a receipt');
    expect(receiptEventToRows(again)).toEqual(receiptEventToRows(e));
    expect(receiptEventToRows(e).receipt).toMatchObject({
      outcome: 'error',
      replayed: 1,
      fuel: null,
      duration_ms: null,
    });
  });

  it('names the field of a malformed event', () => {
    const e = makeReceiptEvent({ i: 1 });
    const bad = { ...e, body: { ...e.body, out: ['maybe', 1] } } as unknown as typeof e;
    expect(() => receiptEventToRows(bad)).toThrow(RowMappingError);
    try {
      receiptEventToRows(bad);
    } catch (err) {
      expect((err as RowMappingError).field).toBe('body.out');
      expect((err as RowMappingError).cid).toBe(e.instruction.toString());
    }
    const noCid = { ...e, receipt: 'x' } as unknown as typeof e;
    expect(() => receiptEventToRows(noCid)).toThrow(/receipt is not a CID/);
  });
});

describe('workflowEventToRow', () => {
  it('maps submissions and ends', () => {
    const wf = cidOf({ workflow: 'w' });
    const failed = cidOf({ failed: 1 });
    expect(workflowEventToRow(makeSubmitted(wf, 3, 10))).toEqual({
      workflow_cid: wf.toString(),
      event: 'submitted',
      task_count: 3,
      receipt_count: 0,
      failed: [],
      at_ms: 10,
    });
    expect(workflowEventToRow(makeEnded(wf, [failed, failed], [failed], 20))).toEqual({
      workflow_cid: wf.toString(),
      event: 'failed',
      task_count: 0,
      receipt_count: 2,
      failed: [failed.toString()],
      at_ms: 20,
    });
  });
});

describe('cidToString', () => {
  it('matches CID#toString for v1 and v0 CIDs of every length', async () => {
    const { cidToString } = await import('../../processors/tables/rows.ts');
    const { sha256 } = await import('multiformats/hashes/sha2');
    for (let i = 0; i < 200; i++) {
      const c = cidOf({ i, pad: 'x'.repeat(i % 7) });
      expect(cidToString(c)).toBe(c.toString());
      const raw = CID.createV1(0x55, await sha256.digest(new Uint8Array([i])));
      expect(cidToString(raw)).toBe(raw.toString());
    }
    const v0 = CID.parse('QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n');
    expect(cidToString(v0)).toBe(v0.toString());
    const odd = CID.createV1(0x71, {
      code: 0,
      size: 3,
      digest: new Uint8Array([1, 2, 3]),
      bytes: new Uint8Array([0, 3, 1, 2, 3]),
    });
    expect(cidToString(odd)).toBe(odd.toString());
  });

  it('writes scalar outputs exactly as the DAG-JSON encoder does', () => {
    for (const v of [
      0,
      -5,
      2 ** 53 - 1,
      true,
      false,
      null,
      '',
      'plain',
      'quote"',
      'é',
      'a\\b',
      1.5,
    ]) {
      const e = makeReceiptEvent({ i: 1 });
      const { receipt } = receiptEventToRows({
        ...e,
        body: { ...e.body, out: ['ok', v] as const },
      });
      expect(receipt.output).toBe(dagJson.stringify(v));
    }
  });
});
