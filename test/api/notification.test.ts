// Receipt notifications go out as Homestar sends them: the payload's bytes as a JSON list of
// numbers inside a JSON-RPC message. The message is written as text directly; it must be the
// text JSON.stringify gives the message object.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { subscriptionMessage } from '../../processors/api/notification.ts';

const RUNS = { numRuns: Number(process.env.FC_RUNS ?? 300) };

describe('subscriptionMessage', () => {
  it("is JSON.stringify's text of the message, for any payload, method and subscription", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.string({ unit: 'grapheme', maxLength: 20 }),
        fc.string({ unit: 'binary', maxLength: 20 }),
        (payload, method, subscription) => {
          const text = subscriptionMessage(method, subscription, payload);
          expect(text).toBe(
            JSON.stringify({
              jsonrpc: '2.0',
              method,
              params: { subscription, result: Array.from(payload) },
            }),
          );
          const back = JSON.parse(text) as { params: { result: number[] } };
          expect(Uint8Array.from(back.params.result)).toEqual(payload);
        },
      ),
      RUNS,
    );
    expect(subscriptionMessage('m', 's', new Uint8Array(0))).toBe(
      '{"jsonrpc":"2.0","method":"m","params":{"subscription":"s","result":[]}}',
    );
  });
});
