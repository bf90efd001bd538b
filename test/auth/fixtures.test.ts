// The UCAN conformance fixtures (../shared/fixtures/ucan, next to the repository): every
// verdict, with the rule each invalid case is refused by. A clone without them skips with a
// message; test/auth/ucan.test.ts keeps verdicts on tokens made in the test.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createJwtChecker } from '../../processors/auth/jwt.ts';
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
