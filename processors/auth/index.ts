/**
 * The authority layer: node identity, UCAN proof checking, receipt signatures and the
 * node-local secret store. The only folder that imports `@ucans/ucans` and `iso-ucan`.
 *
 * @module
 */
export * from './types.ts';
export * from './errors.ts';
import { createAuthority as createAuthorityWith, type AuthorityInit } from './authority.ts';
import type { Authority } from './types.ts';
import { createJwtChecker } from './jwt.ts';
import { createUcan1Checker } from './ucan1.ts';
export { loadCheckers, readRevoked, REVOKED_FILE, type AuthorityInit } from './authority.ts';

/** {@link createAuthorityWith} with both token formats (this barrel imports them anyway). */
export function createAuthority(init: AuthorityInit): Authority {
  return createAuthorityWith({ checkers: [createJwtChecker(), createUcan1Checker()], ...init });
}
export {
  generateIdentity,
  identityOf,
  loadIdentity,
  IDENTITY_FILE,
  type Identity,
} from './identity.ts';
export { didOfPublicKey, publicKeyOfDid, ed25519Verify } from './ed25519.ts';
export {
  didOfKey,
  keyOfDid,
  verifySignature,
  type KeyType,
  type SignatureAlg,
} from './signatures.ts';
export { createJwtChecker, delegateJwt, jwtCid, type DelegateOptions } from './jwt.ts';
export { createUcan1Checker, envelopeCid } from './ucan1.ts';
export {
  abilityCovers,
  resourceCovers,
  covers,
  cancelRequirement,
  CANCEL_ABILITY,
  type Capability,
} from './capability.ts';
export { readProofs } from './proofs.ts';
export { createSecretStore, SECRETS_FILE, type SecretStore, type SecretEntry } from './secrets.ts';
export { createTaintTracker, resolveSecrets, secretsIn, type TaintTracker } from './taint.ts';
export {
  lazyLocalEngine,
  routeTainted,
  screenFollowUps,
  withSecrets,
  REDACTED,
  type LocalEngine,
} from './local-node.ts';
export { openTaintLedger, type TaintLedger } from './taint-ledger.ts';
