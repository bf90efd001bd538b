/**
 * Verification of a receipt event that arrived from elsewhere, as a pure function of the event
 * and a serialisable {@link ReceiptCheck}, so that the memo (through
 * {@link Authority.verifyForeign}) and the table indexer (also on its map workers) apply the
 * very same rules.
 *
 * @module
 */
import type { ReceiptEvent } from '../../schemas/events.ts';
import { encodeReceipt } from '../../schemas/model.ts';
import { ed25519Verify } from './ed25519.ts';
import { ReceiptVerificationError } from './errors.ts';
import type { ReceiptCheck } from './types.ts';

export type { ReceiptCheck };

/**
 * Checks that the event's body hashes to its receipt CID and that its signature (over the CID's
 * bytes, by `iss`) holds; in `ucan` mode also that it is signed, by a trusted DID.
 * @returns the reason to refuse it, or undefined
 */
export function verifyReceiptEvent(
  event: ReceiptEvent,
  check: ReceiptCheck,
  trusted: ReadonlySet<string> = new Set(check.trusted),
): ReceiptVerificationError | undefined {
  const refuse = (reason: string): ReceiptVerificationError =>
    new ReceiptVerificationError(event.receipt.toString(), event.instruction.toString(), reason);
  let cid: string;
  try {
    cid = encodeReceipt(event.body).cid.toString();
  } catch (err) {
    return refuse(`body does not encode: ${(err as Error).message}`);
  }
  if (cid !== event.receipt.toString()) return refuse(`tampered: its body hashes to ${cid}`);
  if (event.iss === undefined || event.sig === undefined)
    return check.mode === 'ucan' ? refuse('unsigned') : undefined;
  if (check.mode === 'ucan' && !trusted.has(event.iss))
    return refuse(`signed by ${event.iss}, which this node does not trust`);
  if (!ed25519Verify(event.iss, event.receipt.bytes, event.sig))
    return refuse(`forged: the signature is not ${event.iss}'s`);
  return undefined;
}
