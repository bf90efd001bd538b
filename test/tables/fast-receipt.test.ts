// The indexer's fast path gives exactly the rows of the full decoder.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cidOf } from '../../schemas/cid.ts';
import { decodeEvent, encodeEvent } from '../../schemas/events.ts';
import { IpldFloat } from '../../schemas/ipld.ts';
import { fastReceiptRows } from '../../processors/tables/fast-receipt.ts';
import { receiptEventToRows } from '../../processors/tables/rows.ts';
import { makeEnded, makeReceiptEvent, makeSubmitted, WASM } from './make-events.ts';

const slow = (bytes: Uint8Array) => {
  const e = decodeEvent(bytes);
  if (e.type !== 'receipt') throw new Error('not a receipt');
  return receiptEventToRows(e);
};

const withOutput = (value: unknown, i = 1) => {
  const e = makeReceiptEvent({ i, links: [cidOf({ d: i })], awaits: cidOf({ a: i }) });
  return { ...e, body: { ...e.body, out: ['ok', value] as const } } as typeof e;
};

describe('fastReceiptRows', () => {
  it('matches the full decoder on varied receipts', () => {
    const wf = cidOf({ wf: 1 });
    const events = [
      makeReceiptEvent({ i: 1 }),
      makeReceiptEvent({ i: 2, workflow: wf, error: true, replayed: true }),
      makeReceiptEvent({ i: 3, fuel: null, durationMs: null, executor: 'n' }),
      makeReceiptEvent({ i: 4, links: [WASM, cidOf({ x: 1 }), WASM], awaits: cidOf({ y: 2 }) }),
      makeReceiptEvent({ i: 5, durationMs: 1.25, at: 1_700_000_000_123.9 }),
      withOutput(new IpldFloat(1)),
      withOutput(1.5),
      withOutput(-7),
      withOutput(2n ** 63n),
      withOutput('quote " and \\ and é'),
      withOutput(null),
      withOutput(true),
      withOutput(new Uint8Array([0, 1, 2, 255])),
      withOutput(WASM),
      withOutput({ nested: [1, { link: WASM }, new IpldFloat(2)], s: 'x' }),
      withOutput([]),
    ];
    for (const e of events) {
      const bytes = encodeEvent(e);
      expect(fastReceiptRows(bytes)).toEqual(slow(bytes));
    }
  });

  it('matches the full decoder on generated outputs', () => {
    const value = fc.letrec((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        fc.integer(),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.string(),
        fc.boolean(),
        fc.constant(null),
        fc.uint8Array({ maxLength: 8 }),
        fc.array(tie('v'), { maxLength: 3 }),
        fc.dictionary(fc.string({ maxLength: 4 }), tie('v'), { maxKeys: 3 }),
      ),
    })).v;
    fc.assert(
      fc.property(value, (v) => {
        const bytes = encodeEvent(withOutput(Object.is(v, -0) ? 0 : v));
        expect(fastReceiptRows(bytes)).toEqual(slow(bytes));
      }),
      { numRuns: 300 },
    );
  });

  it('declines what it does not handle', () => {
    const wf = cidOf({ wf: 2 });
    expect(fastReceiptRows(encodeEvent(makeSubmitted(wf, 1, 1)))).toBeNull();
    expect(fastReceiptRows(encodeEvent(makeEnded(wf, [], [], 1)))).toBeNull();
    expect(fastReceiptRows(new Uint8Array([0xff, 0x00]))).toBeNull();
    expect(fastReceiptRows(new Uint8Array([]))).toBeNull();
    // A non-minimal integer (0x18 0x02 for 2) is not DAG-CBOR: declined, like the full decoder.
    const bytes = encodeEvent(withOutput(2));
    const ok = [0x82, 0x62, 0x6f, 0x6b, 0x02];
    const at = bytes.findIndex((_, i) => ok.every((b, k) => bytes[i + k] === b));
    expect(at).toBeGreaterThan(0);
    const loose = new Uint8Array([
      ...bytes.subarray(0, at + 4),
      0x18,
      0x02,
      ...bytes.subarray(at + 5),
    ]);
    expect(fastReceiptRows(loose)).toBeNull();
    expect(() => decodeEvent(loose)).toThrow();
  });
});
