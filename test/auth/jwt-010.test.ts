// JWT UCAN 0.10 verdicts on tokens made here (the fixture suite is test/auth/fixtures.test.ts):
// `cap` maps with caveats, proofs linked by CID, attenuation, and what a 0.10 chain grants a
// node in `ucan` mode.
import { describe, expect, it } from 'vitest';
import { createJwtChecker, jwtCid } from '../../processors/auth/jwt.ts';
import { generateIdentity, type Identity } from '../../processors/auth/identity.ts';
import type { CheckContext } from '../../processors/auth/types.ts';

const NOW = 1_800_000_000;

/** A 0.10 token: `ucv` in the payload, `cap` a map resource → ability → caveats. */
function token010(
  issuer: Identity,
  audience: string,
  cap: Record<string, Record<string, Array<Record<string, unknown>>>>,
  extra: Record<string, unknown> = {},
): string {
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const head = `${b64({ alg: 'EdDSA', typ: 'JWT' })}.${b64({ ucv: '0.10.0', iss: issuer.did, aud: audience, exp: NOW + 3600, cap, ...extra })}`;
  return `${head}.${Buffer.from(issuer.sign(new TextEncoder().encode(head))).toString('base64url')}`;
}

const root = generateIdentity();
const client = generateIdentity();
const node = generateIdentity();
const checker = createJwtChecker();
const ctx = (proofs: string[], trusted?: string[]): CheckContext => ({
  nowSeconds: NOW,
  audience: node.did,
  trusted: trusted === undefined ? undefined : new Set(trusted),
  isRevoked: () => false,
  resolve: (cid) => proofs.find((p) => jwtCid(p) === cid),
});
const wasm = { rsc: 'ipfs://bafkqaaa', op: 'wasm/run' };

describe('JWT UCAN 0.10', () => {
  it('grants a task through a chain linked by CID, from a trusted root', () => {
    const first = token010(root, client.did, { 'ipfs://*': { 'wasm/*': [{}] } });
    const leaf = token010(
      client,
      node.did,
      { 'ipfs://*': { 'wasm/run': [{}] } },
      { prf: [jwtCid(first)] },
    );
    expect(checker.check(leaf, wasm, ctx([first], [root.did])).issuer).toBe(client.did);
    // Without the linked proof supplied, or from a root the node does not trust.
    expect(() => checker.check(leaf, wasm, ctx([], [root.did]))).toThrow(
      expect.objectContaining({ rule: 'UnavailableProof' }),
    );
    expect(() => checker.check(leaf, wasm, ctx([first], [node.did]))).toThrow(
      expect.objectContaining({ rule: 'InvalidClaim' }),
    );
  });

  it('narrows caveats, refuses widening them, and grants no task under a caveat', () => {
    const first = token010(root, client.did, {
      'mailto:a@example.com': { 'email/send': [{ templates: ['news', 'ads'] }] },
    });
    const narrowed = token010(
      client,
      node.did,
      { 'mailto:a@example.com': { 'email/send': [{ templates: ['news'] }] } },
      { prf: [jwtCid(first)] },
    );
    checker.check(narrowed, undefined, ctx([first]));
    for (const widened of [[{}], [{ templates: ['news', 'ads', 'promo'] }], [{ other: 1 }]]) {
      const t = token010(
        client,
        node.did,
        { 'mailto:a@example.com': { 'email/send': widened } },
        { prf: [jwtCid(first)] },
      );
      expect(() => checker.check(t, undefined, ctx([first]))).toThrow(
        expect.objectContaining({
          rule: 'Overreach',
          message: expect.stringContaining('invalidDelegation'),
        }),
      );
    }
    const limited = token010(root, node.did, { 'ipfs://*': { 'wasm/run': [{ max: 1 }] } });
    expect(() => checker.check(limited, wasm, ctx([], [root.did]))).toThrow(
      expect.objectContaining({ rule: 'InvalidClaim' }),
    );
  });

  it('names a missing or mistyped field', () => {
    expect(() =>
      checker.check(token010(root, node.did, { x: {} }, { cap: undefined }), undefined, ctx([])),
    ).toThrow(/missingField: cap/);
    expect(() =>
      checker.check(token010(root, node.did, {}, { exp: '1' }), undefined, ctx([])),
    ).toThrow(/incorrectType: exp must be a number or null/);
    expect(() =>
      checker.check(token010(root, node.did, {}, { prf: ['nope'] }), undefined, ctx([])),
    ).toThrow(/incorrectProofs: prf\[0\] is not a CID/);
  });
});
