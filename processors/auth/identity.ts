/**
 * The node's identity: an Ed25519 key created on first use in the data directory
 * (`<dataDir>/identity.pem`, PKCS#8, file mode 0600) and its `did:key`.
 *
 * @module
 */
import { generateKeyPairSync, createPrivateKey, webcrypto, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { didOfPublicKey, ed25519Sign, rawKeys } from './ed25519.ts';

/** File name of the key inside the data directory. */
export const IDENTITY_FILE = 'identity.pem';

/** A signing identity. */
export interface Identity {
  /** `did:key:z6Mk…` */
  readonly did: string;
  /** Ed25519 signature of `message`, on this thread (tokens, tests). */
  sign(message: Uint8Array): Uint8Array;
  /**
   * The same signature through WebCrypto, computed on libuv's thread pool: the engine signs
   * receipts this way so that signing does not hold the event loop.
   */
  signAsync(message: Uint8Array): Promise<Uint8Array>;
  /** The private key (for adapters that sign tokens). */
  readonly privateKey: KeyObject;
  /** The raw public key. */
  readonly publicKey: Uint8Array;
}

/** An identity of a private key object. */
export function identityOf(privateKey: KeyObject): Identity {
  const { publicKey } = rawKeys(privateKey);
  let cryptoKey: Promise<webcrypto.CryptoKey> | undefined;
  return {
    did: didOfPublicKey(publicKey),
    privateKey,
    publicKey,
    sign: (message) => ed25519Sign(privateKey, message),
    async signAsync(message) {
      cryptoKey ??= webcrypto.subtle.importKey(
        'pkcs8',
        privateKey.export({ format: 'der', type: 'pkcs8' }),
        { name: 'Ed25519' },
        false,
        ['sign'],
      );
      return new Uint8Array(await webcrypto.subtle.sign('Ed25519', await cryptoKey, message));
    },
  };
}

/** A fresh identity kept in memory only (tests, tools). */
export function generateIdentity(): Identity {
  return identityOf(generateKeyPairSync('ed25519').privateKey);
}

/**
 * Loads the node's identity from `dataDir`, creating the key on first use. A key file readable
 * by others is tightened to 0600.
 */
export function loadIdentity(dataDir: string): Identity {
  const file = join(dataDir, IDENTITY_FILE);
  mkdirSync(dataDir, { recursive: true });
  try {
    const pem = readFileSync(file, 'utf8');
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    return identityOf(createPrivateKey(pem));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  try {
    // 'wx': two processes starting at once keep the first key.
    writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return identityOf(createPrivateKey(readFileSync(file, 'utf8')));
  }
  return identityOf(privateKey);
}
