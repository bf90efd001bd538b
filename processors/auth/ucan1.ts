/**
 * UCAN 1.0 (DAG-CBOR envelope, varsig) through `iso-ucan`: the library decodes envelopes and
 * evaluates policies; this file verifies signatures (`node:crypto`), checks every time bound
 * against the injected clock (iso-ucan checks an invocation's own `exp` against `Date.now()`
 * whatever `now` it is given) and walks the chain itself, so that each failure is named by the
 * rule it broke (iso-ucan throws plain `Error`s) — the names of the conformance fixtures.
 *
 * A token travels as the base64 of its envelope bytes; its CID is dag-cbor + sha2-256 of them.
 * A task's proof is an *invocation* (`cmd` = `/` + the task's op, `args.rsc` = its resource)
 * whose `prf` links the delegations, root first. An invocation is single-use.
 *
 * @module
 */
import { decode as isoDecode } from 'iso-ucan/envelope';
import { validate as matchPolicy } from 'iso-ucan/policy';
import type { CID } from 'multiformats/cid';
import { dagCbor } from '../../schemas/codecs.ts';
import { canonicalSignature, verifySignature, type SignatureAlg } from './signatures.ts';
import { AuthError } from './errors.ts';
import { tokenCid, type TokenHasher } from './token-cid.ts';
import type { CheckContext, Grant, ProofChecker } from './types.ts';

const DAG_CBOR = 0x71;
/** The varsig presets verified here (iso-ucan's names). */
const ALGS = new Set(['Ed25519', 'ES256', 'ES256K']);

/** iso-ucan's envelope decoder, typed for what this file reads. */
const decodeEnvelope = isoDecode as unknown as (options: { envelope: Uint8Array }) => {
  alg: string;
  spec: string;
  payload: unknown;
};

interface Envelope {
  cid: string;
  /** The CID of the envelope in canonical form (signature too): what single use is keyed by. */
  useKey: string;
  spec: string;
  payload: {
    iss: string;
    aud?: string;
    sub: string | null;
    cmd: string;
    pol?: unknown[];
    args?: Record<string, unknown>;
    prf?: CID[];
    exp: number | null;
    nbf?: number;
  };
}

/** CID of a UCAN 1.0 envelope (dag-cbor, sha2-256 unless told). */
export function envelopeCid(bytes: Uint8Array, hasher?: TokenHasher): string {
  return tokenCid(DAG_CBOR, bytes, hasher);
}

/** Decodes an envelope and verifies its signature. */
function open(bytes: Uint8Array, proof: string): Envelope {
  let decoded: { alg: string; spec: string; payload: unknown };
  let message: Uint8Array;
  let signature: Uint8Array;
  let signed: unknown;
  try {
    decoded = decodeEnvelope({ envelope: bytes });
    [signature, signed] = dagCbor.decode(bytes) as unknown as [Uint8Array, unknown];
    message = dagCbor.encode(signed);
  } catch (err) {
    throw new AuthError('Malformed', `not a UCAN 1.0 envelope: ${(err as Error).message}`, {
      proof,
    });
  }
  const payload = decoded.payload as Envelope['payload'];
  const cid = envelopeCid(bytes);
  if (!ALGS.has(decoded.alg))
    throw new AuthError('Malformed', `unsupported signature ${decoded.alg}`, { proof: cid });
  const alg = decoded.alg as SignatureAlg;
  if (typeof payload.iss !== 'string' || !verifySignature(payload.iss, alg, message, signature))
    throw new AuthError('InvalidSignature', `signature of ${payload.iss} does not verify`, {
      proof: cid,
    });
  // Single use is keyed by the canonical encoding: another encoding or the other ECDSA `s`
  // of the same invocation is the same invocation.
  const useKey = envelopeCid(dagCbor.encode([canonicalSignature(alg, signature), signed] as never));
  return { cid, useKey, spec: decoded.spec, payload };
}

function timeBounds(env: Envelope, ctx: CheckContext, proof: string): void {
  const { exp, nbf } = env.payload;
  if (exp !== null && exp !== undefined && exp < ctx.nowSeconds)
    throw new AuthError('Expired', `expired at ${exp} (now ${ctx.nowSeconds})`, { proof });
  if (nbf !== undefined && nbf > ctx.nowSeconds)
    throw new AuthError('TooEarly', `not valid before ${nbf} (now ${ctx.nowSeconds})`, { proof });
}

/** True when command `outer` covers `inner` (`/` covers all; `/a` covers `/a/b`, not `/ab`). */
export function commandCovers(outer: string, inner: string): boolean {
  return outer === '/' || outer === inner || inner.startsWith(outer + '/');
}

function fromBase64(token: string): Uint8Array {
  return new Uint8Array(Buffer.from(token, 'base64'));
}

/** The UCAN 1.0 adapter. */
export function createUcan1Checker(): ProofChecker {
  return {
    format: 'ucan-1.0',
    accepts(token) {
      if (token.startsWith('eyJ') || !/^[A-Za-z0-9+/=_-]+$/.test(token)) return false;
      const b = fromBase64(token);
      return b.length > 2 && b[0] === 0x82; // a CBOR array of two: [signature, payload]
    },
    cidOf: (token, hasher) => envelopeCid(fromBase64(token), hasher),
    check(token, requirement, ctx): Grant {
      const inv = open(fromBase64(token), 'invocation');
      const p = inv.payload;
      if (inv.spec !== 'inv')
        throw new AuthError('Malformed', `expected an invocation, got "${inv.spec}"`, {
          proof: inv.cid,
        });
      const here = { proof: inv.cid };
      if (ctx.isRevoked(inv.cid)) throw new AuthError('Revoked', 'invocation revoked', here);
      timeBounds(inv, ctx, inv.cid);
      const audience = p.aud ?? p.sub;
      if (ctx.audience !== undefined && audience !== ctx.audience)
        throw new AuthError(
          'InvalidAudience',
          `invocation addressed to ${audience}, not to this node (${ctx.audience})`,
          here,
        );
      if (requirement !== undefined) {
        if (p.cmd !== `/${requirement.op}`)
          throw new AuthError('Overreach', `command ${p.cmd} is not /${requirement.op}`, here);
        if (p.args?.rsc !== requirement.rsc)
          throw new AuthError(
            'Overreach',
            `args.rsc ${JSON.stringify(p.args?.rsc ?? null)} is not ${requirement.rsc}`,
            here,
          );
      }
      const proofs: Envelope[] = [];
      if (p.iss !== p.sub) {
        const links = p.prf ?? [];
        if (links.length === 0)
          throw new AuthError('InvalidClaim', 'no proof, and the issuer is not the subject', here);
        for (const [i, link] of links.entries()) {
          const where = `prf[${i}] ${link.toString()}`;
          const body = ctx.resolve(link.toString());
          if (body === undefined)
            throw new AuthError('UnavailableProof', 'proof not supplied', { proof: where });
          const d = open(fromBase64(body), where);
          if (d.spec !== 'dlg')
            throw new AuthError('Malformed', `expected a delegation, got "${d.spec}"`, {
              proof: where,
            });
          if (ctx.isRevoked(d.cid))
            throw new AuthError('Revoked', 'delegation revoked', { proof: where });
          timeBounds(d, ctx, where);
          proofs.push(d);
        }
        const root = proofs[0]!.payload;
        if (root.sub === null || root.iss !== root.sub)
          throw new AuthError(
            'InvalidClaim',
            root.sub === null
              ? 'the root delegation has a null subject'
              : 'the root delegation is not issued by its subject',
            { proof: `prf[0] ${proofs[0]!.cid}` },
          );
        for (const [i, d] of proofs.entries()) {
          const cur = d.payload;
          const next = i + 1 < proofs.length ? proofs[i + 1]!.payload : p;
          const where = { proof: `prf[${i}] ${d.cid}` };
          if (next.iss !== cur.aud)
            throw new AuthError(
              'InvalidAudience',
              `issued to ${cur.aud ?? 'nobody'}, but the next link is issued by ${next.iss}`,
              where,
            );
          if ((next.sub ?? p.sub) !== (cur.sub ?? p.sub))
            throw new AuthError(
              'InvalidSubject',
              `subject ${cur.sub ?? p.sub} differs from the next link's ${next.sub ?? p.sub}`,
              where,
            );
          if (!commandCovers(cur.cmd, next.cmd))
            throw new AuthError(
              'Overreach',
              `command ${cur.cmd} does not cover ${next.cmd}`,
              where,
            );
          let matched: boolean;
          try {
            matched = matchPolicy(p.args as never, (cur.pol ?? []) as never);
          } catch (err) {
            throw new AuthError('MatchError', `policy: ${(err as Error).message}`, where);
          }
          if (!matched)
            throw new AuthError(
              'MatchError',
              `arguments do not match the policy ${JSON.stringify(cur.pol)}`,
              where,
            );
        }
      }
      // The authority is the subject: it must be a root this node trusts.
      if (ctx.trusted !== undefined && !ctx.trusted.has(p.sub ?? ''))
        throw new AuthError('InvalidClaim', `subject ${p.sub} is not a trusted root`, here);
      return { cid: inv.cid, issuer: p.iss, singleUse: inv.useKey };
    },
  };
}
