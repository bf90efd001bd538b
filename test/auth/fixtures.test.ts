// The UCAN conformance fixtures (../shared/fixtures/ucan, next to the repository): every
// verdict, with the rule each invalid case is refused by. A clone without them skips with a
// message; test/auth/jwt-010.test.ts and ucan1.test.ts keep verdicts on tokens made in the test.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EdDSASigner } from 'iso-signatures/signers/eddsa.js';
import { Delegation } from 'iso-ucan/delegation';
import { Invocation } from 'iso-ucan/invocation';
import { validate as matchPolicy } from 'iso-ucan/policy';
import { createJwtChecker, jwtCid } from '../../processors/auth/jwt.ts';
import { issueJwt010 } from '../../processors/auth/jwt-010.ts';
import { identityOf } from '../../processors/auth/identity.ts';
import { privateKeyObject, publicKeyOfDid } from '../../processors/auth/ed25519.ts';
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
});

interface Build010 {
  name: string;
  inputs: {
    version: string;
    issuer_base64_key: string;
    signature_scheme: string;
    audience: string;
    expiration: number | null;
    not_before?: number;
    facts?: Record<string, unknown>;
    capabilities: Record<string, Record<string, Array<Record<string, unknown>>>>;
  };
  outputs: { token: string };
}

describe.skipIf(!present)('JWT UCAN 0.10 fixtures (build)', () => {
  const cases = present
    ? (JSON.parse(readFileSync(join(root, '0.10.0', 'build.json'), 'utf8')) as Build010[])
    : [];
  it('has 5 cases, all Ed25519', () => {
    expect(cases.map((c) => c.inputs.signature_scheme)).toEqual(Array(5).fill('Ed25519'));
  });
  for (const c of cases)
    it(`build: ${c.name} (the same token, byte for byte, and it verifies)`, () => {
      // The key is the 64-byte Ed25519 key pair: seed, then public key.
      const pair = Buffer.from(c.inputs.issuer_base64_key, 'base64');
      const issuer = identityOf(privateKeyObject(pair.subarray(0, 32)));
      expect(Buffer.from(publicKeyOfDid(issuer.did))).toEqual(pair.subarray(32));
      const token = issueJwt010({
        issuer,
        audience: c.inputs.audience,
        exp: c.inputs.expiration,
        nbf: c.inputs.not_before,
        cap: c.inputs.capabilities,
        fct: c.inputs.facts,
      });
      expect(token).toBe(c.outputs.token);
      createJwtChecker().check(token, undefined, context(PINNED_2023));
    });
});

describe.skipIf(!present)('JWT UCAN 0.10 all.json', () => {
  it('is the union of verify, refute, cid and build (so every case above is every case)', () => {
    const names = (f: string): string[] =>
      (JSON.parse(readFileSync(join(root, '0.10.0', f), 'utf8')) as Array<{ name: string }>).map(
        (c) => `${f}:${c.name}`,
      );
    const all = JSON.parse(readFileSync(join(root, '0.10.0', 'all.json'), 'utf8')) as Array<{
      task: string;
      name: string;
    }>;
    const file = {
      verify: 'verify.json',
      refute: 'refute.json',
      toCID: 'cid.json',
      build: 'build.json',
    };
    expect(all.map((c) => `${file[c.task as keyof typeof file]}:${c.name}`).sort()).toEqual(
      ['verify.json', 'refute.json', 'cid.json', 'build.json'].flatMap(names).sort(),
    );
  });
});

describe.skipIf(!present)('UCAN 1.0 delegation fixture', () => {
  const file = present
    ? (JSON.parse(readFileSync(join(root, '1.0.0', 'delegation.json'), 'utf8')) as {
        principals: Record<string, string>;
        valid: Array<{
          name: string;
          token: string;
          cid: string;
          envelope: {
            payload: { iss: string; aud: string; sub: string; cmd: string; exp: number };
          };
        }>;
      })
    : { principals: {}, valid: [] };
  for (const c of file.valid)
    it(`valid: ${c.name} — its CID, and a proof its audience can invoke with`, async () => {
      const checker = createUcan1Checker();
      expect(checker.cidOf(c.token)).toBe(c.cid);
      // The audience's key is among the principals (base64 of varint 0x1300 + private key).
      const signers = await Promise.all(
        Object.values(file.principals).map((k) => EdDSASigner.import(k)),
      );
      const audience = signers.find((s) => s.did === c.envelope.payload.aud);
      expect(audience, 'the audience is a principal').toBeDefined();
      const { iss, sub, cmd, exp } = c.envelope.payload;
      const node = signers.find((s) => s.did !== iss && s.did !== audience!.did)!;
      const inv = await Invocation.create({
        iss: audience as never,
        aud: node.did as never,
        sub: sub as never,
        cmd: `${cmd}/read`,
        args: { rsc: 'ipvm:account' },
        prf: [await Delegation.fromString(c.token, { now: exp - 120 })],
        exp: null,
        now: exp - 120,
        verifierResolver: { verify: () => Promise.resolve(true) },
      } as never);
      const token = Buffer.from(inv.bytes).toString('base64');
      const grant = checker.check(
        token,
        { rsc: 'ipvm:account', op: `${cmd.slice(1)}/read` },
        {
          ...context(exp - 120, { [c.cid]: c.token }),
          audience: node.did,
          trusted: new Set([iss]),
        },
      );
      expect(grant.issuer).toBe(audience!.did);
      // …and refused once the delegation has expired.
      expect(() => checker.check(token, undefined, context(exp + 1, { [c.cid]: c.token }))).toThrow(
        expect.objectContaining({ rule: 'Expired' }),
      );
    });
});

describe.skipIf(!present)(
  "UCAN 1.0 policy fixtures (iso-ucan's engine, which the node uses)",
  () => {
    const file = present
      ? (JSON.parse(readFileSync(join(root, '1.0.0', 'policy.json'), 'utf8')) as Record<
          'valid' | 'invalid',
          Array<{ args: Record<string, unknown>; policies: unknown[][] }>
        >)
      : { valid: [], invalid: [] };
    for (const verdict of ['valid', 'invalid'] as const)
      for (const [i, c] of file[verdict].entries())
        for (const [j, policy] of c.policies.entries())
          it(`${verdict} #${i}.${j}: ${JSON.stringify(policy).slice(0, 80)}`, () => {
            expect(matchPolicy(c.args as never, policy as never)).toBe(verdict === 'valid');
          });
  },
);

interface Case07 {
  valid: boolean;
  message: string;
  token: string;
}

describe.skipIf(!present)('JWT UCAN 0.7.0 fixtures', () => {
  const cases = present
    ? (JSON.parse(readFileSync(join(root, '0.7.0', 'fixtures.json'), 'utf8')) as Case07[])
    : [];
  if (present)
    console.warn(
      `UCAN 0.7.0: ${cases.filter((c) => c.valid).length} valid fixture tokens are not checked for ` +
        'validity: 0.7 (capabilities as {wnfs|app, cap}) is not a version this node reads; ' +
        'every 0.7 token is refused as Malformed, which the test below asserts',
    );
  for (const c of cases)
    it(`${c.valid ? 'valid (unsupported)' : 'invalid'}: ${c.message} → Malformed, version 0.7.0`, () => {
      expect(() => createJwtChecker().check(c.token, undefined, context(PINNED_2023))).toThrow(
        expect.objectContaining({
          rule: 'Malformed',
          message: expect.stringContaining("Unsupported version 'ucv: 0.7.0'"),
        }),
      );
    });
});
