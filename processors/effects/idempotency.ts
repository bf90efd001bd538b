/**
 * The `Idempotency-Key` of a managed effect: a digest of the instruction CID and its nonce, so
 * every attempt of one instruction (retries, re-sends after a crash, another node of the group)
 * carries the same key, and a new nonce gives a new key.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { CID } from 'multiformats/cid';
import type { Nonce } from '../../schemas/types.ts';

/** The header name. */
export const IDEMPOTENCY_HEADER = 'idempotency-key';

/**
 * `ipvm1-` + base64url(sha256("ipvm/idempotency/v1" ‖ 0 ‖ instruction CID bytes ‖ 0 ‖ nonce)).
 * A string nonce counts as its UTF-8 bytes.
 * @example `ipvm1-1q2w3e…` (49 characters)
 */
export function idempotencyKey(instruction: CID, nnc: Nonce): string {
  const hash = createHash('sha256');
  hash.update('ipvm/idempotency/v1\0');
  hash.update(instruction.bytes);
  hash.update('\0');
  hash.update(typeof nnc === 'string' ? Buffer.from(nnc, 'utf8') : nnc);
  return `ipvm1-${hash.digest('base64url')}`;
}
