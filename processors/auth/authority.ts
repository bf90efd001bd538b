/**
 * The node's authority: checks submissions against their proofs, signs the receipts the node
 * writes and verifies the receipts it reads. See {@link Authority}.
 *
 * @module
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReceiptEvent } from '../../schemas/events.ts';
import type { ParsedWorkflow } from '../../schemas/model.ts';
import { AuthError } from './errors.ts';
import { hasherOfCid } from './token-cid.ts';
import type { Identity } from './identity.ts';
import { verifyReceiptEvent, type ReceiptCheck } from './verify-receipt.ts';
import { CANCEL_ABILITY, cancelRequirement } from './capability.ts';
import type {
  AuthMode,
  Authority,
  CheckContext,
  Grant,
  ProofChecker,
  ProofMap,
  Requirement,
} from './types.ts';

/** Construction options of {@link createAuthority}. */
export interface AuthorityInit {
  identity: Identity;
  /** @default 'open' */
  mode?: AuthMode;
  /** Root DIDs allowed to delegate (this node's own DID is always trusted). */
  trust?: Iterable<string>;
  /** CIDs of revoked tokens. */
  revoked?: Iterable<string>;
  /** @default Date.now */
  clock?: () => number;
  /**
   * Token formats; required in `ucan` mode. `index.ts` defaults them to JWT UCAN and UCAN 1.0;
   * the CLI loads them ({@link loadCheckers}) only in `ucan` mode, since the UCAN libraries take
   * a while to import and `open` mode never needs them.
   */
  checkers?: ProofChecker[];
}

/** File of revoked token CIDs in a data directory, one a line. */
export const REVOKED_FILE = 'revoked';

/** The revoked CIDs listed in `<dataDir>/revoked` (none when absent). */
export function readRevoked(dataDir: string): string[] {
  const file = join(dataDir, REVOKED_FILE);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Creates the authority. */
export function createAuthority(init: AuthorityInit): Authority {
  const { identity } = init;
  const mode = init.mode ?? 'open';
  const clock = init.clock ?? Date.now;
  const trusted = new Set([identity.did, ...(init.trust ?? [])]);
  const revoked = new Set(init.revoked ?? []);
  const checkers = init.checkers ?? [];
  if (mode === 'ucan' && checkers.length === 0)
    throw new TypeError('ucan mode needs proof checkers (loadCheckers())');
  /** Single-use invocation → the workflow that used it. */
  const used = new Map<string, string>();
  const receiptCheck: ReceiptCheck = { mode, trusted: [...trusted] };

  const checkerOf = (token: string): ProofChecker | undefined =>
    checkers.find((c) => c.accepts(token));

  /** Proofs named by their own CIDs, whatever key they were supplied under. */
  function named(proofs: ProofMap | undefined): ProofMap {
    const supplied: ProofMap = {};
    for (const [key, token] of Object.entries(proofs ?? {})) {
      const c = checkerOf(token);
      if (c === undefined)
        throw new AuthError('Malformed', 'not a JWT UCAN nor a UCAN 1.0 token', { proof: key });
      supplied[c.cidOf(token)] = token;
    }
    return supplied;
  }

  function contextOf(supplied: ProofMap, atMs: number | undefined): CheckContext {
    return {
      nowSeconds: Math.floor((atMs ?? clock()) / 1000),
      audience: identity.did,
      trusted,
      isRevoked: (cid: string) => revoked.has(cid),
      resolve: (cid: string) => supplied[cid] ?? byOtherHash(supplied, cid),
    };
  }

  /** A supplied proof named by a link with another hash than sha2-256 (BLAKE3, UCAN 0.10). */
  function byOtherHash(supplied: ProofMap, cid: string): string | undefined {
    const hasher = hasherOfCid(cid);
    if (hasher === undefined || hasher === 'sha2-256') return undefined;
    return Object.values(supplied).find((t) => checkerOf(t)?.cidOf(t, hasher) === cid);
  }

  /**
   * The grant of the first candidate proof that covers `requirement`; else the refusal of the
   * first one (the most specific when the task names its proofs).
   */
  function grantOf(
    requirement: Requirement,
    candidates: string[],
    context: CheckContext,
    usedBy: string,
  ): Grant | AuthError {
    let first: AuthError | undefined;
    for (const cid of candidates) {
      const token = context.resolve(cid)!;
      try {
        const grant = checkerOf(token)!.check(token, requirement, context);
        const prior = grant.singleUse === undefined ? undefined : used.get(grant.singleUse);
        if (prior !== undefined && prior !== usedBy)
          throw new AuthError('Replayed', `single-use invocation already used by ${prior}`, {
            proof: cid,
          });
        return grant;
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        first ??= err;
      }
    }
    return first!;
  }

  function authorize(
    workflow: ParsedWorkflow,
    proofs: ProofMap | undefined,
    options?: { atMs?: number },
  ): void {
    if (mode === 'open') return;
    const supplied = named(proofs);
    const context = contextOf(supplied, options?.atMs);
    const key = workflow.cid.toString();
    const grants: Grant[] = [];
    for (const t of workflow.tasks) {
      const where = { task: t.index, instruction: t.instruction.toString() };
      const linked = t.task.prf.map((l) => l.toString());
      for (const l of linked)
        if (context.resolve(l) === undefined)
          throw new AuthError('UnavailableProof', 'linked by the task but not supplied', {
            ...where,
            proof: l,
          });
      // A task names its proofs with `prf`; one that names none may use any supplied proof.
      const candidates = linked.length > 0 ? linked : Object.keys(supplied);
      if (candidates.length === 0)
        throw new AuthError('InvalidClaim', 'no proof for this task', where);
      const requirement = { rsc: t.task.run.rsc, op: t.task.run.op };
      const grant = grantOf(requirement, candidates, context, `workflow ${key}`);
      if (grant instanceof AuthError) throw grant.at(where);
      grants.push(grant);
    }
    for (const g of grants) if (g.singleUse !== undefined) used.set(g.singleUse, `workflow ${key}`);
  }

  function authorizeCancel(
    workflow: string,
    proofs: ProofMap | undefined,
    options?: { atMs?: number },
  ): void {
    if (mode === 'open') return;
    const supplied = named(proofs);
    const candidates = Object.keys(supplied);
    if (candidates.length === 0)
      throw new AuthError('InvalidClaim', `no proof of ${CANCEL_ABILITY}`, { workflow });
    const usedBy = `the cancel of workflow ${workflow}`;
    const context = contextOf(supplied, options?.atMs);
    const grant = grantOf(cancelRequirement(workflow), candidates, context, usedBy);
    if (grant instanceof AuthError) throw grant.at({ workflow });
    if (grant.singleUse !== undefined) used.set(grant.singleUse, usedBy);
  }

  return {
    did: identity.did,
    mode,
    authorize,
    authorizeCancel,
    async sign(event) {
      return { ...event, iss: identity.did, sig: await identity.signAsync(event.receipt.bytes) };
    },
    receiptCheck,
    verifyForeign: (event: ReceiptEvent) => verifyReceiptEvent(event, receiptCheck, trusted),
  };
}

/** The JWT UCAN and UCAN 1.0 checkers, their libraries imported on first call. */
export async function loadCheckers(): Promise<ProofChecker[]> {
  const [{ createJwtChecker }, { createUcan1Checker }] = await Promise.all([
    import('./jwt.ts'),
    import('./ucan1.ts'),
  ]);
  return [createJwtChecker(), createUcan1Checker()];
}
