// The outbox's intent event: encoded, decoded, and refused with the field when malformed.
import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent, type EffectIntentEvent } from '../../schemas/events.ts';
import { dagCbor } from '../../schemas/codecs.ts';
import { parseWorkflow } from '../../schemas/model.ts';

const parsed = parseWorkflow({
  tasks: [
    {
      run: { rsc: 'http://127.0.0.1:8080/x', op: 'http/post', input: { body: 'b' }, nnc: '' },
      cause: null,
      meta: {},
      prf: [],
    },
  ],
});
const t = parsed.tasks[0]!;
const intent: EffectIntentEvent = {
  type: 'effect/intent',
  workflow: parsed.cid,
  instruction: t.instruction,
  invocation: t.invocation,
  task: t.task,
  args: [{ body: 'b' }],
  key: 'ipvm1-k',
  request: {
    method: 'POST',
    url: 'http://127.0.0.1:8080/x',
    headers: { 'idempotency-key': 'ipvm1-k', 'content-type': 'text/plain; charset=utf-8' },
    body: new TextEncoder().encode('b'),
  },
  at: 1,
};

describe('effect/intent event', () => {
  it('round-trips through DAG-CBOR', () => {
    expect(decodeEvent(encodeEvent(intent))).toEqual(intent);
  });
  it('names the field of a malformed intent', () => {
    const bad = dagCbor.decode(encodeEvent(intent)) as Record<string, unknown>;
    bad.request = { method: 'POST', url: 'u', headers: {}, body: 'not bytes' };
    expect(() => decodeEvent(dagCbor.encode(bad))).toThrow(/request\.body/);
  });
});
