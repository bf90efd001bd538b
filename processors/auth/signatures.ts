/**
 * Signatures of UCAN issuers by key type: Ed25519 (`did:key:z6Mk…`, through `node:crypto`),
 * ECDSA P-256 (`did:key:zDn…`, ES256) and secp256k1 (`did:key:zQ3s…`, ES256K), each over
 * SHA-256 of the message, as a 64-byte `r‖s` — keys decompressed by `@noble/curves`, signatures
 * checked by `node:crypto`. The algorithm a token names must be its issuer's key type: an
 * ES256 header over an Ed25519 DID does not verify.
 *
 * ECDSA signatures come in two forms (`s` and `n − s`) that both verify; both are accepted
 * (WebCrypto signs either), and {@link canonicalSignature} maps them to one, so that a token
 * named by its bytes cannot be replayed under its other form.
 *
 * @module
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { base58btc } from 'multiformats/bases/base58';
import { didKeyBytes, ed25519Verify } from './ed25519.ts';
import { InvalidDidError } from './errors.ts';

/** A key type a `did:key` may carry here. */
export type KeyType = 'Ed25519' | 'P-256' | 'secp256k1';

/** A signature algorithm, named as UCAN 1.0's varsig presets name them. */
export type SignatureAlg = 'Ed25519' | 'ES256' | 'ES256K';

/** The multicodec (varint bytes) of each public key type, and its key length. */
const CODECS: ReadonlyArray<{ type: KeyType; prefix: readonly number[]; length: number }> = [
  { type: 'Ed25519', prefix: [0xed, 0x01], length: 32 },
  { type: 'P-256', prefix: [0x80, 0x24], length: 33 }, // p256-pub 0x1200, compressed
  { type: 'secp256k1', prefix: [0xe7, 0x01], length: 33 }, // secp256k1-pub 0xe7, compressed
];

/** The algorithm each key type signs with. */
const ALG_OF: Record<KeyType, SignatureAlg> = {
  Ed25519: 'Ed25519',
  'P-256': 'ES256',
  secp256k1: 'ES256K',
};

/** JWT `alg` header values (RFC 7518, RFC 8812) → the algorithm. */
export const JWT_ALGS: Readonly<Record<string, SignatureAlg>> = {
  EdDSA: 'Ed25519',
  ES256: 'ES256',
  ES256K: 'ES256K',
};

/**
 * The key type and raw public key of a `did:key`.
 * @throws {InvalidDidError} not a did:key, or not of a supported key type
 */
export function keyOfDid(did: string): { type: KeyType; publicKey: Uint8Array } {
  const bytes = didKeyBytes(did);
  for (const c of CODECS)
    if (c.prefix.every((b, i) => bytes[i] === b)) {
      if (bytes.length !== c.prefix.length + c.length)
        throw new InvalidDidError(did, `a ${c.type} key must be ${c.length} bytes`);
      return { type: c.type, publicKey: bytes.subarray(c.prefix.length) };
    }
  throw new InvalidDidError(did, 'not an Ed25519, P-256 or secp256k1 key');
}

/** `did:key` of a raw public key (compressed, for the ECDSA curves). */
export function didOfKey(type: KeyType, publicKey: Uint8Array): string {
  const codec = CODECS.find((c) => c.type === type)!;
  return `did:key:${base58btc.encode(Uint8Array.from([...codec.prefix, ...publicKey]))}`;
}

const CURVES = { ES256: p256, ES256K: secp256k1 } as const;

/** DER prefixes wrapping an uncompressed point (65 bytes) into an SPKI of each curve. */
const SPKI_PREFIX = {
  ES256: Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex'),
  ES256K: Buffer.from('3056301006072a8648ce3d020106052b8104000a034200', 'hex'),
} as const;

/** ECDSA public keys by DID: decompressed by `@noble/curves` once, then verified by OpenSSL. */
const ecdsaKeys = new Map<string, KeyObject>();

function ecdsaKey(did: string, alg: 'ES256' | 'ES256K'): KeyObject | undefined {
  let key = ecdsaKeys.get(did);
  if (key !== undefined) return key;
  let parsed: { type: KeyType; publicKey: Uint8Array };
  try {
    parsed = keyOfDid(did);
  } catch {
    return undefined;
  }
  if (ALG_OF[parsed.type] !== alg) return undefined;
  try {
    const point = CURVES[alg].Point.fromBytes(parsed.publicKey).toBytes(false);
    key = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX[alg], point]),
      format: 'der',
      type: 'spki',
    });
  } catch {
    return undefined; // not a point of the curve
  }
  if (ecdsaKeys.size > 10_000) ecdsaKeys.clear();
  ecdsaKeys.set(did, key);
  return key;
}

/**
 * True when `signature` is `did`'s signature of `message` by `alg`; false for a DID of another
 * key type, an unsupported DID, or a signature of the wrong length. ECDSA is checked by
 * `node:crypto` (OpenSSL; ~20× faster than pure JS), high or low `s`.
 */
export function verifySignature(
  did: string,
  alg: SignatureAlg,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (alg === 'Ed25519') return ed25519Verify(did, message, signature);
  if (signature.length !== 64) return false;
  const key = ecdsaKey(did, alg);
  if (key === undefined) return false;
  return verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature);
}

/** The signature in its one canonical form: ECDSA with low `s`; Ed25519 as it is. */
export function canonicalSignature(alg: SignatureAlg, signature: Uint8Array): Uint8Array {
  if (alg === 'Ed25519') return signature;
  const { Signature, Point } = CURVES[alg];
  const sig = Signature.fromBytes(signature, 'compact');
  if (!sig.hasHighS()) return signature;
  return new Signature(sig.r, Point.CURVE().n - sig.s).toBytes('compact');
}
