/**
 * JWT UCAN 0.10 payloads, read by this file (`@ucans/ucans` reads 0.8.1 only: `ucv` in the
 * header, `att` a list). A 0.10 token carries `ucv` in its payload, its capabilities as
 * `cap: {resource: {ability: [caveat, …]}}`, and its proofs as CIDs in `prf`. Every field is
 * checked for presence and type here, with the fixture suite's names in the messages
 * (`missingField`, `incorrectType`, `incorrectProofs`). Signature, time bounds and the chain
 * are checked by `jwt.ts`, as for 0.8.1.
 *
 * Caveats: a list of objects, any of which may hold (`[{}]`: none). A delegated capability
 * may narrow its proof's caveats, never widen them ({@link caveatsNarrow}). The node grants a
 * task only from capabilities without caveats: it knows no caveat of its own abilities.
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import { AuthError } from './errors.ts';
import { JWT_ALGS, type SignatureAlg } from './signatures.ts';

/** A 0.10 capability: resource, ability and its caveats. */
export interface Capability010 {
  with: string;
  can: string;
  caveats: Array<Record<string, unknown>>;
}

/** What a 0.10 payload says (the header is checked too). */
export interface Payload010 {
  /** The header's `alg` (EdDSA, ES256 or ES256K), as the algorithm it names. */
  alg: SignatureAlg;
  iss: string;
  aud: string;
  exp: number | null;
  nbf: number | undefined;
  ucv: string;
  att: Capability010[];
  prf: string[];
}

const SEMVER = /^\d+\.\d+\.\d+$/;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function decodePart(part: string | undefined, what: string, proof: string): unknown {
  try {
    return JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as unknown;
  } catch (err) {
    throw new AuthError('Malformed', `${what} is not base64url JSON`, { proof }, { cause: err });
  }
}

/** True when `token`'s payload names its version (`ucv`): a UCAN 0.10 (or later JWT) token. */
export function isPayloadVersioned(token: string): boolean {
  const p = token.split('.')[1];
  if (p === undefined) return false;
  try {
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as unknown;
    return isObject(payload) && 'ucv' in payload;
  } catch {
    return false;
  }
}

/**
 * Reads a 0.10 token's header and payload.
 * @throws {AuthError} `Malformed` naming the field that is missing or of the wrong type
 */
export function readPayload010(token: string, proof: string): Payload010 {
  const [h, p] = token.split('.');
  const header = decodePart(h, 'header', proof);
  const payload = decodePart(p, 'payload', proof);
  const bad = (why: string): AuthError => new AuthError('Malformed', why, { proof });
  const missing = (field: string): AuthError => bad(`missingField: ${field}`);
  const wrong = (field: string, expected: string): AuthError =>
    bad(`incorrectType: ${field} must be ${expected}`);
  if (!isObject(header)) throw wrong('header', 'an object');
  if (!isObject(payload)) throw wrong('payload', 'an object');
  for (const f of ['alg', 'typ'] as const) {
    if (!(f in header)) throw missing(`header.${f}`);
    if (typeof header[f] !== 'string') throw wrong(`header.${f}`, 'a string');
  }
  if (header.typ !== 'JWT') throw wrong('header.typ', '"JWT"');
  const alg = JWT_ALGS[header.alg as string];
  if (alg === undefined) throw bad(`unsupported alg ${JSON.stringify(header.alg)}`);
  for (const f of ['ucv', 'iss', 'aud', 'exp', 'cap'] as const)
    if (!(f in payload)) throw missing(f);
  const { ucv, iss, aud, exp, nbf, nnc, fct, cap, prf } = payload;
  if (typeof ucv !== 'string' || !SEMVER.test(ucv)) throw wrong('ucv', 'a semantic version string');
  for (const [f, v] of [
    ['iss', iss],
    ['aud', aud],
  ] as const)
    if (typeof v !== 'string' || !v.startsWith('did:')) throw wrong(f, 'a DID');
  if (exp !== null && typeof exp !== 'number') throw wrong('exp', 'a number or null');
  if (nbf !== undefined && typeof nbf !== 'number') throw wrong('nbf', 'a number');
  if (nnc !== undefined && typeof nnc !== 'string') throw wrong('nnc', 'a string');
  if (fct !== undefined && !isObject(fct)) throw wrong('fct', 'a JSON object');
  if (!isObject(cap)) throw wrong('cap', 'a JSON object');
  const att: Capability010[] = [];
  for (const [resource, abilities] of Object.entries(cap)) {
    if (!isObject(abilities)) throw wrong(`cap[${resource}]`, 'a JSON object');
    for (const [ability, caveats] of Object.entries(abilities)) {
      const where = `cap[${resource}][${ability}]`;
      if (!Array.isArray(caveats) || caveats.length === 0 || !caveats.every(isObject))
        throw wrong(where, 'a non-empty list of caveat objects');
      if (ability !== '*' && !ability.includes('/'))
        throw bad(`incorrectType: ${where}: ability is not namespaced`);
      att.push({ with: resource, can: ability, caveats });
    }
  }
  if (prf !== undefined && !Array.isArray(prf)) throw wrong('prf', 'a list');
  const links = (prf ?? []) as unknown[];
  for (const [i, l] of links.entries()) {
    try {
      if (typeof l !== 'string') throw new Error('not a string');
      CID.parse(l);
    } catch (err) {
      throw new AuthError(
        'Malformed',
        `incorrectProofs: prf[${i}] is not a CID`,
        { proof },
        {
          cause: err,
        },
      );
    }
  }
  return {
    alg,
    iss: iss as string,
    aud: aud as string,
    exp: exp,
    nbf: nbf,
    ucv,
    att,
    prf: links as string[],
  };
}

/** True when every caveat of `child` is at least as narrow as one of `parent`'s. */
export function caveatsNarrow(
  child: ReadonlyArray<Record<string, unknown>>,
  parent: ReadonlyArray<Record<string, unknown>>,
): boolean {
  return child.every((c) =>
    parent.some((p) => Object.entries(p).every(([k, v]) => k in c && narrower(c[k], v))),
  );
}

/** A list narrows a list it is a subset of; any other value only equals. */
function narrower(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.every((x) => b.some((y) => same(x, y)));
  return same(a, b);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** True when the capability carries no caveat (`[{}]`, or a 0.8.1 capability). */
export function unconditioned(
  caveats: ReadonlyArray<Record<string, unknown>> | undefined,
): boolean {
  return caveats === undefined || caveats.some((c) => Object.keys(c).length === 0);
}

/** What a 0.10 token says, to issue one ({@link issueJwt010}). */
export interface Issue010 {
  issuer: { did: string; sign(message: Uint8Array): Uint8Array };
  audience: string;
  /** Seconds, or `null` for a token that does not expire. */
  exp: number | null;
  nbf?: number;
  cap: Record<string, Record<string, Array<Record<string, unknown>>>>;
  fct?: Record<string, unknown>;
  /** CIDs of the proofs. */
  prf?: string[];
}

/** JSON with object keys in code-point order at every depth (arrays keep theirs). */
function sortedJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(sortedJson).join(',')}]`;
  if (isObject(value))
    return `{${Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${sortedJson(value[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/**
 * Issues a UCAN 0.10 token signed with Ed25519: header `{alg, typ}`, the payload's keys
 * sorted (as the 0.10 fixtures' tokens are), `prf` only when there are proofs. Ed25519 is
 * deterministic, so the same fields and key give the same token.
 */
export function issueJwt010(t: Issue010): string {
  const part = (v: unknown): string => Buffer.from(sortedJson(v)).toString('base64url');
  const payload = {
    ucv: '0.10.0',
    iss: t.issuer.did,
    aud: t.audience,
    exp: t.exp,
    nbf: t.nbf,
    cap: t.cap,
    fct: t.fct,
    prf: t.prf === undefined || t.prf.length === 0 ? undefined : t.prf,
  };
  const head = `${part({ alg: 'EdDSA', typ: 'JWT' })}.${part(payload)}`;
  const signature = t.issuer.sign(new TextEncoder().encode(head));
  return `${head}.${Buffer.from(signature).toString('base64url')}`;
}
