/**
 * Receipt notifications in Homestar's shape.
 *
 * A notification's payload is the DAG-JSON text of
 * `{metadata: {name, replayed, workflow}, receipt, receipt_cid}` — the receipt as
 * `{ran, out, meta, iss, prf}` — and it travels as the JSON array of that text's UTF-8 bytes
 * (Homestar serialises its `Vec<u8>` payload so, and its clients decode it with
 * `dagJson.decode(new Uint8Array(result))`).
 *
 * @module
 */
import type { CID } from 'multiformats/cid';
import { dagJson } from '../../schemas/codecs.ts';
import type { Receipt } from '../../schemas/types.ts';

/** What a receipt notification says, before encoding. */
export interface ReceiptNotification {
  /** The workflow run the receipt belongs to. */
  metadata: {
    /** The run's name (from the request, or generated). */
    name: string;
    /** True when the receipt came from the memo instead of running. */
    replayed: boolean;
    /** The workflow CID. */
    workflow: CID;
  };
  /** The receipt. */
  receipt: Receipt;
  /** The receipt's CID. */
  receipt_cid: CID;
}

/** DAG-JSON bytes of a notification (what Homestar puts in `params.result`, as numbers). */
export function encodeReceiptNotification(n: ReceiptNotification): Uint8Array {
  return dagJson.encode({
    metadata: {
      name: n.metadata.name,
      replayed: n.metadata.replayed,
      workflow: n.metadata.workflow,
    },
    receipt: {
      ran: n.receipt.ran,
      out: [n.receipt.out[0], n.receipt.out[1]],
      meta: n.receipt.meta,
      iss: n.receipt.iss,
      prf: n.receipt.prf,
    },
    receipt_cid: n.receipt_cid,
  });
}

/** The text of each byte value, for {@link subscriptionMessage}. */
const BYTE_TEXT = Array.from({ length: 256 }, (_, i) => String(i));

/**
 * The JSON-RPC notification message carrying `payload` for subscription `subscription`: the
 * text `JSON.stringify` gives `{jsonrpc: '2.0', method, params: {subscription, result}}` with
 * `result` the payload's bytes as a list of numbers (as serde writes a `Vec<u8>`), written
 * without building that list (a third of the time for a receipt's ~350 bytes).
 */
export function subscriptionMessage(
  method: string,
  subscription: string,
  payload: Uint8Array,
): string {
  let list = '[';
  for (let i = 0; i < payload.length; i++) {
    if (i > 0) list += ',';
    list += BYTE_TEXT[payload[i]!]!;
  }
  return `{"jsonrpc":"2.0","method":${JSON.stringify(method)},"params":{"subscription":${JSON.stringify(subscription)},"result":${list}]}}`;
}
