/**
 * Ed25519 keys as `did:key` identifiers, signing and verification through `node:crypto`
 * (OpenSSL: ~60 µs to sign, ~120 µs to verify — several times faster than pure-JS curves).
 *
 * @module
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { base58btc } from 'multiformats/bases/base58';
import { InvalidDidError } from './errors.ts';

/** The multicodec prefix of an Ed25519 public key (0xed, varint). */
const ED25519_PUB = Uint8Array.of(0xed, 0x01);
/** DER prefixes that wrap a raw 32-byte key into SPKI / PKCS#8. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** `did:key:z6Mk…` of a raw Ed25519 public key. */
export function didOfPublicKey(publicKey: Uint8Array): string {
  const bytes = new Uint8Array(34);
  bytes.set(ED25519_PUB, 0);
  bytes.set(publicKey, 2);
  return `did:key:${base58btc.encode(bytes)}`;
}

/**
 * The multicodec-prefixed key bytes of a `did:key`.
 * @throws {InvalidDidError} not a did:key, or not base58btc
 */
export function didKeyBytes(did: string): Uint8Array {
  if (!did.startsWith('did:key:z')) throw new InvalidDidError(did, 'expected did:key:z…');
  try {
    return base58btc.decode(did.slice('did:key:'.length));
  } catch (err) {
    throw new InvalidDidError(did, 'not base58btc', { cause: err });
  }
}

/**
 * The raw public key of an Ed25519 `did:key`.
 * @throws {InvalidDidError} not a did:key, or not an Ed25519 one
 */
export function publicKeyOfDid(did: string): Uint8Array {
  const bytes = didKeyBytes(did);
  if (bytes.length !== 34 || bytes[0] !== 0xed || bytes[1] !== 0x01)
    throw new InvalidDidError(did, 'not an Ed25519 key (multicodec 0xed)');
  return bytes.subarray(2);
}

const publicKeys = new Map<string, KeyObject>();

/** The public key object of a DID (cached: DIDs repeat, parsing does not need to). */
export function publicKeyObject(did: string): KeyObject {
  let key = publicKeys.get(did);
  if (key === undefined) {
    key = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, publicKeyOfDid(did)]),
      format: 'der',
      type: 'spki',
    });
    if (publicKeys.size > 10_000) publicKeys.clear();
    publicKeys.set(did, key);
  }
  return key;
}

/** A private key object from its raw 32-byte seed. */
export function privateKeyObject(seed: Uint8Array): KeyObject {
  return createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
}

/** The raw 32-byte seed and public key of a private key object. */
export function rawKeys(privateKey: KeyObject): { seed: Uint8Array; publicKey: Uint8Array } {
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return {
    seed: new Uint8Array(pkcs8.subarray(PKCS8_PREFIX.length)),
    publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)),
  };
}

/** Signs `message` with an Ed25519 private key. */
export function ed25519Sign(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, privateKey));
}

/** True when `signature` is `did`'s Ed25519 signature of `message`; false for a bad DID too. */
export function ed25519Verify(did: string, message: Uint8Array, signature: Uint8Array): boolean {
  let key: KeyObject;
  try {
    key = publicKeyObject(did);
  } catch {
    return false;
  }
  if (signature.length !== 64) return false;
  return verify(null, message, key, signature);
}
