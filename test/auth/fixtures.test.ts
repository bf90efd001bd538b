// The UCAN conformance fixtures (../shared/fixtures/ucan, next to the repository): every
// verdict, with the rule each invalid case is refused by. A clone without them skips with a
// message; test/auth/jwt-010.test.ts and ucan1.test.ts keep verdicts on tokens made in the test.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createJwtChecker, jwtCid } from '../../processors/auth/jwt.ts';
import { createUcan1Checker } from '../../processors/auth/ucan1.ts';
import type { CheckContext } from '../../processors/auth/types.ts';

const root = join(process.cwd(), '..', 'shared', 'fixtures', 'ucan');
const present = existsSync(join(root, '1.0.0', 'invocation.json'));
if (!present)
  console.warn(
    'UCAN fixture tests skipped: ../shared/fixtures/ucan not found next to the repository',
  );

interface Case1 {
  name: string;
  description: string;
  invocation: { '/': { bytes: string } };
  proofs: Array<{ '/': { bytes: string } }>;
  time: number;
  error?: { name: string };
}

function context(nowSeconds: number, proofs: Record<string, string> = {}): CheckContext {
  return { nowSeconds, isRevoked: () => false, resolve: (cid) => proofs[cid] };
}

describe.skipIf(!present)('UCAN 1.0 invocation fixtures', () => {
  const file = present
    ? (JSON.parse(readFileSync(join(root, '1.0.0', 'invocation.json'), 'utf8')) as {
        valid: Case1[];
        invalid: Case1[];
      })
    : { valid: [], invalid: [] };
  const checker = createUcan1Checker();
  const run = (c: Case1): void => {
    const proofs: Record<string, string> = {};
    for (const p of c.proofs) {
      const token = Buffer.from(p['/'].bytes, 'base64').toString('base64');
      proofs[checker.cidOf(token)] = token;
    }
    const token = Buffer.from(c.invocation['/'].bytes, 'base64').toString('base64');
    expect(checker.accepts(token)).toBe(true);
    checker.check(token, undefined, context(c.time, proofs));
  };
  it('has 7 valid and 13 invalid cases', () => {
    expect(file.valid).toHaveLength(7);
    expect(file.invalid).toHaveLength(13);
  });
  for (const c of file.valid) it(`valid: ${c.name}`, () => run(c));
  for (const c of file.invalid)
    it(`invalid: ${c.name} → ${c.error?.name}`, () => {
      expect(() => run(c)).toThrow(expect.objectContaining({ rule: c.error?.name }));
    });
});

interface Case08 {
  comment: string;
  token: string;
  assertions: { payload?: { nbf?: number }; validationErrors?: string[]; typeErrors?: string[] };
}

/** Most 0.8.1 tokens were made in 2022 with exp in 2122; two valid ones become valid in 2123. */
const PINNED_2023 = 1_700_000_000;

describe.skipIf(!present)('JWT UCAN 0.8.1 fixtures (pinned clock)', () => {
  const read = (f: string): Case08[] =>
    present ? (JSON.parse(readFileSync(join(root, '0.8.1', f), 'utf8')) as Case08[]) : [];
  const checker = createJwtChecker();
  for (const c of read('valid.json')) {
    it(`valid: ${c.comment}`, () => {
      // A valid token whose nbf lies beyond the pinned time is checked at its nbf.
      const now = Math.max(PINNED_2023, c.assertions.payload?.nbf ?? 0);
      expect(checker.accepts(c.token)).toBe(true);
      checker.check(c.token, undefined, context(now));
    });
  }
  for (const c of read('invalid.json')) {
    const why = [...(c.assertions.validationErrors ?? []), ...(c.assertions.typeErrors ?? [])];
    it(`invalid: ${c.comment} (${why.join(', ')})`, () => {
      expect(() => checker.check(c.token, undefined, context(PINNED_2023))).toThrow(
        expect.objectContaining({ name: 'AuthError' }),
      );
    });
  }
});

interface Case010 {
  name: string;
  task: string;
  inputs: { token: string; proofs?: Record<string, string>; hasher?: string };
  outputs?: { cid: string };
  errors?: string[];
}

/**
 * The rule each 0.10 fixture error is refused by. `invalidDelegation` covers three rules: a
 * capability its proofs do not delegate (Overreach), a proof addressed to someone else
 * (InvalidAudience), and the fixture whose token is not signed by its issuer (its signature is
 * refused before its delegation is looked at).
 */
const RULES_010: Record<string, string[]> = {
  expired: ['Expired'],
  notReady: ['TooEarly'],
  timeBoundsViolation: ['Overreach'],
  missingField: ['Malformed'],
  incorrectType: ['Malformed'],
  incorrectProofs: ['Malformed'],
  invalidDelegation: ['Overreach', 'InvalidAudience', 'InvalidSignature'],
};

describe.skipIf(!present)('JWT UCAN 0.10 fixtures (verify, refute, CID)', () => {
  const read = (f: string): Case010[] =>
    present ? (JSON.parse(readFileSync(join(root, '0.10.0', f), 'utf8')) as Case010[]) : [];
  const checker = createJwtChecker();
  const verify = (c: Case010): void => {
    const proofs = c.inputs.proofs ?? {};
    expect(checker.accepts(c.inputs.token)).toBe(true);
    checker.check(c.inputs.token, undefined, context(PINNED_2023, proofs));
  };
  const verified = read('verify.json');
  const refuted = read('refute.json');
  it('has 15 cases to verify and 33 to refute', () => {
    expect(verified).toHaveLength(15);
    expect(refuted).toHaveLength(33);
  });
  for (const c of verified) it(`verify: ${c.name}`, () => verify(c));
  for (const c of refuted) {
    const rules = (c.errors ?? []).flatMap((e) => RULES_010[e] ?? [`unmapped ${e}`]);
    it(`refute: ${c.name} → ${c.errors?.join(', ')} (${rules.join(' | ')})`, () => {
      let error: unknown;
      try {
        verify(c);
      } catch (err) {
        error = err;
      }
      expect(error).toMatchObject({ name: 'AuthError' });
      expect(rules).toContain((error as { rule: string }).rule);
    });
  }
  const HASHERS = { 'SHA2-256': 'sha2-256', 'BLAKE3-256': 'blake3' } as const;
  const cids = read('cid.json');
  it('has a CID case for each hasher', () => {
    expect(cids.map((c) => c.inputs.hasher).sort()).toEqual(['BLAKE3-256', 'SHA2-256']);
  });
  for (const c of cids)
    it(`toCID: ${c.name}`, () => {
      const hasher = HASHERS[c.inputs.hasher as keyof typeof HASHERS];
      expect(hasher, `hasher ${c.inputs.hasher}`).toBeDefined();
      expect(jwtCid(c.inputs.token, hasher)).toBe(c.outputs!.cid);
    });
  // build.json asks to issue 0.10 tokens; this node issues 0.8.1 (`ipvm ucan delegate`).
});
