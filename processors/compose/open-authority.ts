/**
 * The node's authority from an {@link AuthConfig} and the data directory's identity. Light
 * modules only: the UCAN libraries are imported in `ucan` mode alone.
 *
 * @module
 */
import type { Authority } from '../auth/types.ts';
import type { ReceiptCheck } from '../auth/verify-receipt.ts';
import { ConfigError, type AuthConfig } from './config.ts';

/** Checks the trusted DIDs. @throws {ConfigError} naming the bad one */
async function trustOf(auth: AuthConfig): Promise<string[]> {
  const trust = auth.trust ?? [];
  // The curves' library (~20 modules) only to read a DID given here.
  if (trust.length === 0) return trust;
  const { keyOfDid } = await import('../auth/signatures.ts');
  for (const did of trust) {
    try {
      keyOfDid(did);
    } catch (err) {
      throw new ConfigError(`--trust: ${(err as Error).message}`);
    }
  }
  return trust;
}

function modeOf(auth: AuthConfig): 'open' | 'ucan' {
  const mode = auth.mode ?? 'open';
  if (mode !== 'open' && mode !== 'ucan')
    throw new ConfigError(`--auth must be open or ucan (got ${String(mode)})`);
  return mode;
}

/** The rules receipts are verified by before they enter the tables (no UCAN libraries). */
export async function openReceiptCheck(auth: AuthConfig, dataDir: string): Promise<ReceiptCheck> {
  const mode = modeOf(auth);
  const { loadIdentity } = await import('../auth/identity.ts');
  return { mode, trusted: [loadIdentity(dataDir).did, ...(await trustOf(auth))] };
}

/** The node's authority (its identity is created on first use). */
export async function openAuthority(auth: AuthConfig, dataDir: string): Promise<Authority> {
  const mode = modeOf(auth);
  const [{ createAuthority, loadCheckers, readRevoked }, { loadIdentity }] = await Promise.all([
    import('../auth/authority.ts'),
    import('../auth/identity.ts'),
  ]);
  return createAuthority({
    identity: loadIdentity(dataDir),
    mode,
    trust: await trustOf(auth),
    revoked: readRevoked(dataDir),
    checkers: mode === 'ucan' ? await loadCheckers() : [],
  });
}
