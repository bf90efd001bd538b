/**
 * The producer contract of `<namespace>.invocations`: besides the node's own DAG-CBOR event
 * envelopes, a producer may append exactly the workflow document a user writes in a file —
 * DAG-JSON (`{"/": cid}` links) or DAG-CBOR, `{tasks}` or `{name, workflow}`, no envelope
 * fields — and the node computes the CIDs. Anything else is rejected with a located reason.
 *
 * @example
 * ```ts
 * // kafkajs, NATS, anything that can write bytes:
 * await producer.send({ topic: 'ipvm.invocations', messages: [{ value: readFileSync('workflow.json') }] });
 * ```
 *
 * @module
 */
import { dagCbor } from './codecs.ts';
import { SchemaError } from './errors.ts';
import { decodeEvent, type NodeEvent } from './events.ts';
import { isIpldMap } from './ipld.ts';
import { parseWorkflow } from './model.ts';

/**
 * True when the bytes are a DAG-CBOR map that claims to be an envelope (`v` or `type`): a
 * workflow document has neither, so one beside `tasks` is a broken envelope, not a document.
 */
function claimsEnvelope(bytes: Uint8Array): boolean {
  try {
    const m = dagCbor.decode(bytes);
    return isIpldMap(m) && ('v' in m || 'type' in m);
  } catch {
    return false;
  }
}

/**
 * Decodes a record of `invocations`: an event envelope, or a workflow document turned into the
 * `workflow/submitted` event the node would have written for it (`at`: the record's time).
 * @throws {SchemaError} or {DecodeError} with the location (field path or byte offset)
 */
export function decodeInvocation(bytes: Uint8Array, at: number): NodeEvent {
  try {
    return decodeEvent(bytes);
  } catch (envelopeError) {
    if (claimsEnvelope(bytes)) throw envelopeError;
  }
  let parsed;
  try {
    parsed = parseWorkflow(bytes);
  } catch (err) {
    if (err instanceof Error && !(err instanceof SchemaError)) {
      err.message = `not an event nor a workflow document: ${err.message}`;
    }
    throw err;
  }
  return {
    type: 'workflow/submitted',
    workflow: parsed.cid,
    body: parsed.workflow,
    name: parsed.name,
    at,
  };
}
