/**
 * Content addresses of IPVM objects: CIDv1, codec dag-cbor (0x71), multihash sha3-256 (0x16)
 * by default — the `bafyrmi…` CIDs Homestar prints. The hasher is pluggable.
 *
 * Compute a CID from bytes you already encoded ({@link cidOfBytes}); {@link encodeBlock} encodes
 * once and returns both.
 *
 * @module
 */
import { hash } from 'node:crypto';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import type { MultihashDigest } from 'multiformats/hashes/interface';
import { dagCbor } from './codecs.ts';
import { sha3CborCidBytes, sha3CborCidOver } from './compact-cid.ts';

export { cidV1Text } from './compact-cid.ts';

/** A synchronous multihash hasher in the multiformats vocabulary. */
export interface SyncHasher {
  /** Multihash name. */
  readonly name: string;
  /** Multihash code. */
  readonly code: number;
  /** Digest of the bytes, synchronously. */
  digest(bytes: Uint8Array): MultihashDigest;
}

/** sha3-256 (multihash 0x16), through the platform's OpenSSL one-shot hash. */
export const sha3_256: SyncHasher = {
  name: 'sha3-256',
  code: 0x16,
  digest: (bytes) => {
    const multihash = new Uint8Array(34);
    multihash[0] = 0x16;
    multihash[1] = 32;
    multihash.set(hash('sha3-256', bytes, 'buffer'), 2);
    return new Digest.Digest(0x16, 32, multihash.subarray(2), multihash);
  },
};

/** sha2-256 (multihash 0x12), for nodes that choose it. */
export const sha2_256: SyncHasher = {
  name: 'sha2-256',
  code: 0x12,
  digest: (bytes) => Digest.create(0x12, hash('sha256', bytes, 'buffer')),
};

/** The hasher of the Homestar v0.2 profile. @default sha3_256 */
export const DEFAULT_HASHER = sha3_256;

/** CIDv1 dag-cbor of bytes that are already DAG-CBOR. */
export function cidOfBytes(bytes: Uint8Array, hasher: SyncHasher = DEFAULT_HASHER): CID {
  if (hasher === sha3_256) return sha3CborCid(bytes);
  return CID.createV1(dagCbor.code, hasher.digest(bytes));
}

// The memo key of every task: no varint arithmetic. The digest is taken as a latin1 ('binary')
// string: Node's Buffer for 'buffer' output costs more than copying 32 characters
// (bench/cid.bench.ts).
function sha3CborCid(bytes: Uint8Array): CID {
  const cid = sha3CborCidBytes();
  const digest = hash('sha3-256', bytes, 'binary');
  for (let i = 0; i < 32; i++) cid[4 + i] = digest.charCodeAt(i);
  return sha3CborCidOver(cid);
}

/** An encoded value with its CID. */
export interface Block<T = unknown> {
  /** The value as given. */
  readonly value: T;
  /** Its DAG-CBOR bytes. */
  readonly bytes: Uint8Array;
  /** CID over {@link Block.bytes}. */
  readonly cid: CID;
}

/** Encodes a value to DAG-CBOR once and addresses the bytes. */
export function encodeBlock<T>(value: T, hasher: SyncHasher = DEFAULT_HASHER): Block<T> {
  const bytes = dagCbor.encode(value);
  return { value, bytes, cid: cidOfBytes(bytes, hasher) };
}

/** The CID of a value (encodes it: prefer {@link encodeBlock} when the bytes are needed too). */
export function cidOf(value: unknown, hasher: SyncHasher = DEFAULT_HASHER): CID {
  return cidOfBytes(dagCbor.encode(value), hasher);
}
