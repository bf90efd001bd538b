/**
 * JWT UCANs: 0.8.1 parsed by `@ucans/ucans`, 0.10 by `jwt-010.ts` (the library reads 0.8.1 only);
 * signatures are verified with `node:crypto` (the library's own verifier is ~10× slower) and
 * time bounds use the injected clock (the library reads `Date.now()`). The chain rules are
 * this file's: witnesses addressed to the issuer, within its time bounds and of the same
 * version, capabilities backed by a proof or issued by a trusted root.
 *
 * @module
 */
import * as ucans from '@ucans/ucans';
import { tokenCid, type TokenHasher } from './token-cid.ts';
import { JWT_ALGS, keyOfDid, verifySignature } from './signatures.ts';
import { abilityCovers, resourceCovers, type Capability } from './capability.ts';
import { AuthError } from './errors.ts';
import type { CheckContext, Grant, ProofChecker, Requirement } from './types.ts';
import type { Identity } from './identity.ts';
import {
  caveatsNarrow,
  isPayloadVersioned,
  issueJwt010,
  readPayload010,
  unconditioned,
  type Capability010,
} from './jwt-010.ts';

const RAW = 0x55;
const utf8 = new TextEncoder();

interface Parsed {
  token: string;
  cid: string;
  iss: string;
  aud: string;
  exp: number | null;
  nbf: number | undefined;
  ucv: string;
  /** Capabilities; a 0.10 one carries its caveats. */
  att: Array<Capability & { caveats?: Capability010['caveats'] }>;
  prf: string[];
}

/** CID of a JWT: raw codec, sha2-256 (UCAN 0.10's canonical CID) or BLAKE3 of its UTF-8. */
export function jwtCid(token: string, hasher?: TokenHasher): string {
  return tokenCid(RAW, utf8.encode(token), hasher);
}

function base64urlDecode(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64url'));
}

/**
 * Tokens already parsed and signature-checked: a client reuses its proofs for every
 * submission, and a signature verifies or not forever. Time bounds, audience, trust and
 * revocation are checked again on every use.
 */
const verified = new Map<string, Parsed>();

function parseOne(token: string, proof: string): Parsed {
  const known = verified.get(token);
  if (known !== undefined) return known;
  const parsed = parseAndVerify(token, proof);
  if (verified.size >= 4096) verified.delete(verified.keys().next().value!);
  verified.set(token, parsed);
  return parsed;
}

/** Parses and verifies one token (no chain): syntax, signature, DIDs, capabilities' shape. */
function parseAndVerify(token: string, proof: string): Parsed {
  if (isPayloadVersioned(token)) return parseAndVerify010(token, proof);
  let ucan: ReturnType<typeof ucans.parse>;
  try {
    ucan = ucans.parse(token);
  } catch (err) {
    throw new AuthError(
      'Malformed',
      (err as Error).message.slice(0, 200),
      { proof },
      { cause: err },
    );
  }
  const { header, payload } = ucan;
  const alg = JWT_ALGS[header.alg];
  if (alg === undefined)
    throw new AuthError('Malformed', `unsupported alg ${JSON.stringify(header.alg)}`, { proof });
  if (header.typ !== 'JWT')
    throw new AuthError('Malformed', `typ must be JWT (got ${JSON.stringify(header.typ)})`, {
      proof,
    });
  for (const [field, did] of [
    ['iss', payload.iss],
    ['aud', payload.aud],
  ] as const) {
    try {
      keyOfDid(did);
    } catch (err) {
      throw new AuthError('Malformed', `${field}: ${(err as Error).message}`, { proof });
    }
  }
  const att = (payload.att as unknown as Array<{ with: unknown; can: unknown }>).map((a, i) => {
    const w =
      typeof a.with === 'string'
        ? a.with
        : ucans.capability.resourcePointer.encode(a.with as never);
    const c = typeof a.can === 'string' ? a.can : ucans.capability.ability.encode(a.can as never);
    if (!/^[a-z][a-z0-9+.-]*:/i.test(w))
      throw new AuthError('Malformed', `att[${i}].with is not a URI: ${JSON.stringify(w)}`, {
        proof,
      });
    if (c !== '*' && !c.includes('/'))
      throw new AuthError('Malformed', `att[${i}].can is not namespaced: ${JSON.stringify(c)}`, {
        proof,
      });
    return { with: w, can: c };
  });
  const [h, p, s] = token.split('.');
  if (!verifySignature(payload.iss, alg, utf8.encode(`${h}.${p}`), base64urlDecode(s ?? '')))
    throw new AuthError('InvalidSignature', `signature of ${payload.iss} does not verify`, {
      proof,
    });
  const v = header.ucv;
  return {
    token,
    cid: jwtCid(token),
    iss: payload.iss,
    aud: payload.aud,
    exp: typeof payload.exp === 'number' ? payload.exp : null,
    nbf: payload.nbf,
    ucv: `${v.major}.${v.minor}.${v.patch}`,
    att,
    prf: payload.prf,
  };
}

/** A UCAN 0.10 token: fields read by `jwt-010.ts`, then the same DID and signature checks. */
function parseAndVerify010(token: string, proof: string): Parsed {
  const p = readPayload010(token, proof);
  for (const [field, did] of [
    ['iss', p.iss],
    ['aud', p.aud],
  ] as const) {
    try {
      keyOfDid(did);
    } catch (err) {
      throw new AuthError('Malformed', `${field}: ${(err as Error).message}`, { proof });
    }
  }
  const [h, b, s] = token.split('.');
  if (!verifySignature(p.iss, p.alg, utf8.encode(`${h}.${b}`), base64urlDecode(s ?? '')))
    throw new AuthError('InvalidSignature', `signature of ${p.iss} does not verify`, { proof });
  return { token, cid: jwtCid(token), ...p };
}

/** The JWT adapter. */
export function createJwtChecker(): ProofChecker {
  /** Validates a token and, recursively, its witnesses; returns the parsed tokens. */
  function validate(
    token: string,
    ctx: CheckContext,
    where: string,
    seen: Map<string, { parsed: Parsed; proofs: Parsed[] }>,
  ): { parsed: Parsed; proofs: Parsed[] } {
    const cached = seen.get(token);
    if (cached !== undefined) return cached;
    const parsed = parseOne(token, where);
    const loc = { proof: `${where} ${parsed.cid}` };
    if (ctx.isRevoked(parsed.cid)) throw new AuthError('Revoked', 'token revoked', loc);
    if (parsed.exp !== null && parsed.exp <= ctx.nowSeconds)
      throw new AuthError('Expired', `expired at ${parsed.exp} (now ${ctx.nowSeconds})`, loc);
    if (parsed.nbf !== undefined && parsed.nbf > ctx.nowSeconds)
      throw new AuthError(
        'TooEarly',
        `not valid before ${parsed.nbf} (now ${ctx.nowSeconds})`,
        loc,
      );
    const proofs = parsed.prf.map((ref, i) => {
      const sub = `${where}.prf[${i}]`;
      const body = ref.startsWith('eyJ') ? ref : ctx.resolve(ref);
      if (body === undefined)
        throw new AuthError('UnavailableProof', `proof ${ref} was not supplied`, { proof: sub });
      const w = validate(body, ctx, sub, seen).parsed;
      if (w.ucv !== parsed.ucv)
        throw new AuthError('Malformed', `witness version ${w.ucv} differs from ${parsed.ucv}`, {
          proof: sub,
        });
      // Time bounds first, as the UCAN 0.10 fixtures order the rules.
      if (
        (w.exp !== null && (parsed.exp === null || w.exp < parsed.exp)) ||
        (w.nbf !== undefined && (parsed.nbf === undefined || w.nbf > parsed.nbf))
      )
        throw new AuthError('Overreach', 'time bounds wider than its witness', { proof: sub });
      if (w.aud !== parsed.iss)
        throw new AuthError(
          'InvalidAudience',
          `witness is addressed to ${w.aud}, not to the issuer ${parsed.iss}`,
          { proof: sub },
        );
      return w;
    });
    // 0.10: a token with proofs claims only what they delegate, caveats narrowed or kept (one
    // without proofs speaks for its issuer, the resource's owner or a trusted root).
    if (parsed.ucv.startsWith('0.10.') && proofs.length > 0)
      for (const [i, a] of parsed.att.entries())
        if (
          !proofs.some((w) =>
            w.att.some(
              (b) =>
                resourceCovers(b.with, a.with) &&
                abilityCovers(b.can, a.can) &&
                caveatsNarrow(a.caveats ?? [{}], b.caveats ?? [{}]),
            ),
          )
        )
          throw new AuthError(
            'Overreach',
            `invalidDelegation: ${a.can} on ${a.with} (cap #${i}) is not delegated by its proofs`,
            loc,
          );
    for (const [i, a] of parsed.att.entries()) {
      const m = /^prf:(\d+)$/.exec(a.with);
      if (m !== null && Number(m[1]) >= proofs.length)
        throw new AuthError(
          'UnavailableProof',
          `att[${i}] names ${a.with}, which does not exist`,
          loc,
        );
    }
    const result = { parsed, proofs };
    seen.set(token, result);
    return result;
  }

  /** True when `t` grants `req`: by a capability backed by a witness, or as a trusted root. */
  function grants(
    t: { parsed: Parsed; proofs: Parsed[] },
    req: Requirement,
    trusted: ReadonlySet<string> | undefined,
    seen: Map<string, { parsed: Parsed; proofs: Parsed[] }>,
  ): boolean {
    const need = { with: req.rsc, can: req.op };
    for (const a of t.parsed.att) {
      const redelegate = /^prf:(\d+|\*)$/.exec(a.with);
      if (redelegate !== null && abilityCovers(a.can, 'ucan/delegate')) {
        const which =
          redelegate[1] === '*' ? t.proofs : [t.proofs[Number(redelegate[1])]!].filter(Boolean);
        if (which.some((w) => grants(seen.get(w.token)!, req, trusted, seen))) return true;
        continue;
      }
      if (!resourceCovers(a.with, need.with) || !abilityCovers(a.can, need.can)) continue;
      if (!unconditioned(a.caveats)) continue; // a caveat this node cannot enforce
      if (trusted === undefined || trusted.has(t.parsed.iss)) return true;
      if (t.proofs.some((w) => grants(seen.get(w.token)!, req, trusted, seen))) return true;
    }
    return false;
  }

  return {
    format: 'jwt',
    accepts: (token) => token.startsWith('eyJ') && token.split('.').length === 3,
    cidOf: jwtCid,
    check(token, requirement, ctx): Grant {
      const seen = new Map<string, { parsed: Parsed; proofs: Parsed[] }>();
      const leaf = validate(token, ctx, 'token', seen);
      const loc = { proof: leaf.parsed.cid };
      if (ctx.audience !== undefined && leaf.parsed.aud !== ctx.audience)
        throw new AuthError(
          'InvalidAudience',
          `addressed to ${leaf.parsed.aud}, not to this node (${ctx.audience})`,
          loc,
        );
      if (requirement !== undefined && !grants(leaf, requirement, ctx.trusted, seen)) {
        const claims = leaf.parsed.att.some(
          (a) => resourceCovers(a.with, requirement.rsc) && abilityCovers(a.can, requirement.op),
        );
        throw claims
          ? new AuthError(
              'InvalidClaim',
              `no chain from a trusted root grants ${requirement.op} on ${requirement.rsc}`,
              loc,
            )
          : new AuthError(
              'Overreach',
              `capabilities ${JSON.stringify(leaf.parsed.att)} do not cover ${requirement.op} on ${requirement.rsc}`,
              loc,
            );
      }
      return { cid: leaf.parsed.cid, issuer: leaf.parsed.iss };
    },
  };
}

/** Options of {@link delegateJwt}. */
export interface DelegateOptions {
  issuer: Identity;
  audience: string;
  with: string;
  can: string;
  /** Lifetime in seconds. @default 3600 */
  expiresInSeconds?: number;
  /**
   * Tokens this delegation is backed by, of its version: embedded in a 0.8.1 token, linked
   * by CID from a 0.10 one (which then travel beside it).
   */
  proofs?: string[];
  /** @default Date.now */
  nowMs?: number;
  /** @default '0.8.1' */
  version?: '0.8.1' | '0.10.0';
}

/**
 * Issues a JWT UCAN (0.8.1, or 0.10.0 when told) signed by `issuer`'s key.
 * @throws {AuthError} `Malformed` for a proof that is not a token of that version
 */
export async function delegateJwt(options: DelegateOptions): Promise<string> {
  const now = Math.floor((options.nowMs ?? Date.now()) / 1000);
  const v010 = options.version === '0.10.0';
  // A delegation may not outlive its proofs: its expiry is clamped to theirs.
  let exp = now + (options.expiresInSeconds ?? 3600);
  for (const [i, p] of (options.proofs ?? []).entries()) {
    if (v010 !== isPayloadVersioned(p))
      throw new AuthError('Malformed', `not a UCAN ${options.version ?? '0.8.1'} token`, {
        proof: `--proof #${i + 1}`,
      });
    const e = v010 ? readPayload010(p, `--proof #${i + 1}`).exp : ucans.parse(p).payload.exp;
    if (typeof e === 'number' && e < exp) exp = e;
  }
  if (v010)
    return issueJwt010({
      issuer: options.issuer,
      audience: options.audience,
      exp,
      cap: { [options.with]: { [options.can]: [{}] } },
      prf: (options.proofs ?? []).map((p) => jwtCid(p)),
    });
  const ucan = await ucans.sign(
    {
      iss: options.issuer.did,
      aud: options.audience,
      exp,
      nbf: undefined,
      att: [
        {
          with: ucans.capability.resourcePointer.parse(options.with),
          can: ucans.capability.ability.parse(options.can),
        },
      ],
      prf: options.proofs ?? [],
    },
    'EdDSA',
    (data) => Promise.resolve(options.issuer.sign(data)),
  );
  return ucans.encode(ucan);
}
