/**
 * The CIDs that name tokens: a codec (raw for a JWT, dag-cbor for a UCAN 1.0 envelope) over
 * SHA2-256 — what this node names proofs by — or BLAKE3-256, which UCAN 0.10 allows a `prf`
 * link to use. {@link hasherOfCid} tells which one a link uses, so the proofs supplied can be
 * named by it too.
 *
 * @module
 */
import { blake3 } from '@noble/hashes/blake3.js';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { sha256 } from 'multiformats/hashes/sha2';

/** A hash function a token's CID may use. */
export type TokenHasher = 'sha2-256' | 'blake3';

const BLAKE3 = 0x1e;

/** The CID (string form) of `bytes` under `codec`, hashed by `hasher`. */
export function tokenCid(
  codec: number,
  bytes: Uint8Array,
  hasher: TokenHasher = 'sha2-256',
): string {
  if (hasher === 'blake3')
    return CID.createV1(codec, Digest.create(BLAKE3, blake3(bytes))).toString();
  const digest = sha256.digest(bytes);
  if (digest instanceof Promise) throw new Error('sha256 must be synchronous here');
  return CID.createV1(codec, digest).toString();
}

/** The hasher of a CID string, or `undefined` when it is not a CID or uses another hash. */
export function hasherOfCid(cid: string): TokenHasher | undefined {
  let code: number;
  try {
    code = CID.parse(cid).multihash.code;
  } catch {
    return undefined;
  }
  return code === sha256.code ? 'sha2-256' : code === BLAKE3 ? 'blake3' : undefined;
}
