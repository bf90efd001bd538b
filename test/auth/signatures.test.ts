// Issuers with P-256 (ES256) and secp256k1 (ES256K) keys, beside Ed25519: JWT UCANs (0.8.1 and
// 0.10) signed by WebCrypto and by @noble/curves, UCAN 1.0 envelopes signed by iso-signatures
// (another implementation than the verifier's), the algorithm bound to the key type, both
// forms of an ECDSA signature accepted but one single use, and proofs linked by BLAKE3 CIDs.
import { webcrypto } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { Delegation } from 'iso-ucan/delegation';
import { Invocation } from 'iso-ucan/invocation';
import { ECDSASigner } from 'iso-signatures/signers/ecdsa.js';
import { ES256KSigner } from 'iso-signatures/signers/es256k.js';
import { describe, expect, it } from 'vitest';
import { createAuthority, generateIdentity } from '../../processors/auth/index.ts';
import { createJwtChecker, jwtCid } from '../../processors/auth/jwt.ts';
import { createUcan1Checker } from '../../processors/auth/ucan1.ts';
import { didOfKey, keyOfDid, verifySignature } from '../../processors/auth/signatures.ts';
import { dagCbor } from '../../schemas/codecs.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { CheckContext } from '../../processors/auth/types.ts';

const NOW = 1_800_000_000;
const RSC = 'ipfs://bafkreigc4g7ygs4m7ojs3dkqt64rjmyrdpglyo36ltd6462pf4pytn4weu';
const utf8 = new TextEncoder();
const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A JWT signer: its DID, its JWT `alg`, and a signature (r‖s) of a message. */
interface JwtSigner {
  did: string;
  alg: string;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** P-256 through WebCrypto (which signs high or low `s`, as browsers do). */
async function webcryptoP256(): Promise<JwtSigner> {
  const pair = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
  ]);
  const raw = new Uint8Array(await webcrypto.subtle.exportKey('raw', pair.publicKey));
  const did = didOfKey('P-256', p256.Point.fromBytes(raw).toBytes(true));
  return {
    did,
    alg: 'ES256',
    sign: async (m) =>
      new Uint8Array(
        await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, pair.privateKey, m),
      ),
  };
}

function nobleSecp256k1(): JwtSigner {
  const secret = secp256k1.utils.randomSecretKey();
  return {
    did: didOfKey('secp256k1', secp256k1.getPublicKey(secret, true)),
    alg: 'ES256K',
    sign: (m) => Promise.resolve(secp256k1.sign(m, secret)),
  };
}

function ed25519(): JwtSigner {
  const id = generateIdentity();
  return { did: id.did, alg: 'EdDSA', sign: (m) => Promise.resolve(id.sign(m)) };
}

async function jwt(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  signer: JwtSigner,
): Promise<string> {
  const head = `${b64url(header)}.${b64url(payload)}`;
  return `${head}.${Buffer.from(await signer.sign(utf8.encode(head))).toString('base64url')}`;
}

/** A 0.10 token: one capability, optional proofs by CID. */
const token010 = (iss: JwtSigner, aud: string, can: string, prf: string[] = []) =>
  jwt(
    { alg: iss.alg, typ: 'JWT' },
    { ucv: '0.10.0', iss: iss.did, aud, exp: NOW + 600, cap: { 'ipfs://*': { [can]: [{}] } }, prf },
    iss,
  );

/** A 0.8.1 token (`ucv` in the header, `att` a list). */
const token081 = (iss: JwtSigner, aud: string, can: string) =>
  jwt(
    { alg: iss.alg, typ: 'JWT', ucv: '0.8.1' },
    { iss: iss.did, aud, exp: NOW + 600, att: [{ with: 'ipfs://*', can }], prf: [] },
    iss,
  );

const node = generateIdentity();
const wasm = { rsc: RSC, op: 'wasm/run' };
const ctx = (proofs: string[] = [], trusted?: string[]): CheckContext => ({
  nowSeconds: NOW,
  audience: node.did,
  trusted: trusted === undefined ? undefined : new Set(trusted),
  isRevoked: () => false,
  resolve: (cid) => proofs.find((p) => jwtCid(p) === cid || jwtCid(p, 'blake3') === cid),
});

/** The same JWT with the payload's `exp` changed, signature kept. */
function tampered(token: string): string {
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as { exp: number };
  return `${h}.${b64url({ ...payload, exp: payload.exp + 1 })}.${s}`;
}

describe('did:key of each key type', () => {
  it('reads Ed25519, P-256 and secp256k1 keys and names what it does not read', async () => {
    expect(keyOfDid(ed25519().did).type).toBe('Ed25519');
    expect((await webcryptoP256()).did).toMatch(/^did:key:zDn/);
    expect(keyOfDid((await webcryptoP256()).did).type).toBe('P-256');
    expect(nobleSecp256k1().did).toMatch(/^did:key:zQ3s/);
    expect(keyOfDid(nobleSecp256k1().did).type).toBe('secp256k1');
    // An RSA did:key (multicodec 0x1205) is not one of them.
    expect(() => keyOfDid('did:key:z4MXj1wBzi9jUstyPMS4jQqB6KdJaiatPkAtVtGc6bQEQEEsKTic')).toThrow(
      /not an Ed25519, P-256 or secp256k1 key/,
    );
  });
});

describe('JWT UCANs signed with ES256 and ES256K', () => {
  const checker = createJwtChecker();
  for (const [name, make] of [
    ['ES256 (WebCrypto P-256)', webcryptoP256],
    ['ES256K (secp256k1)', () => Promise.resolve(nobleSecp256k1())],
  ] as const)
    for (const [version, build] of [
      ['0.10', token010],
      ['0.8.1', token081],
    ] as const)
      it(`${version}, ${name}: verified, and refused when tampered`, async () => {
        const root = await make();
        const t = await build(root, node.did, 'wasm/run');
        expect(checker.check(t, wasm, ctx([], [root.did])).issuer).toBe(root.did);
        expect(() => checker.check(tampered(t), wasm, ctx([], [root.did]))).toThrow(
          expect.objectContaining({ rule: 'InvalidSignature' }),
        );
      });

  it('binds the algorithm to the key type', async () => {
    const p = await webcryptoP256();
    const k = nobleSecp256k1();
    // ES256K claimed for a P-256 key, ES256 for a secp256k1 key, EdDSA for a P-256 key.
    for (const forged of [
      await token010({ ...p, alg: 'ES256K' }, node.did, 'wasm/run'),
      await token010({ ...k, alg: 'ES256' }, node.did, 'wasm/run'),
      await token010({ ...p, alg: 'EdDSA' }, node.did, 'wasm/run'),
    ])
      expect(() => checker.check(forged, wasm, ctx())).toThrow(
        expect.objectContaining({ rule: 'InvalidSignature' }),
      );
    expect(() =>
      checker.check(
        `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url({ ucv: '0.10.0', iss: p.did, aud: node.did, exp: NOW, cap: {} })}.AA`,
        wasm,
        ctx(),
      ),
    ).toThrow(
      expect.objectContaining({
        rule: 'Malformed',
        message: expect.stringMatching(/unsupported alg "RS256"/),
      }),
    );
  });

  it('accepts both forms of an ECDSA signature (high and low s)', async () => {
    const k = nobleSecp256k1();
    const t = await token010(k, node.did, 'wasm/run');
    const [h, p, s] = t.split('.');
    const sig = secp256k1.Signature.fromBytes(Buffer.from(s!, 'base64url'), 'compact');
    const high = new secp256k1.Signature(sig.r, secp256k1.Point.CURVE().n - sig.s);
    expect(high.hasHighS()).toBe(true);
    const other = `${h}.${p}.${Buffer.from(high.toBytes('compact')).toString('base64url')}`;
    expect(verifySignature(k.did, 'ES256K', utf8.encode(`${h}.${p}`), high.toBytes())).toBe(true);
    checker.check(other, wasm, ctx([], [k.did]));
  });

  it('follows a 0.10 chain across key types, proofs linked by a BLAKE3 CID', async () => {
    const root = await webcryptoP256();
    const client = nobleSecp256k1();
    const first = await token010(root, client.did, 'wasm/*');
    const leaf = await token010(client, node.did, 'wasm/run', [jwtCid(first, 'blake3')]);
    expect(jwtCid(first, 'blake3')).toMatch(/^bafkr4i/); // raw + blake3
    expect(checker.check(leaf, wasm, ctx([first], [root.did])).issuer).toBe(client.did);
    // Through the authority, which names supplied proofs by sha2-256: the link still resolves.
    const authority = createAuthority({
      identity: node,
      mode: 'ucan',
      trust: [root.did],
      checkers: [checker],
      clock: () => NOW * 1000,
    });
    const wf = parseWorkflow({
      tasks: [
        {
          run: { rsc: RSC, op: 'wasm/run', input: { func: 'add_one', args: [1] }, nnc: '' },
          cause: null,
          meta: {},
          prf: [],
        },
      ],
    });
    authority.authorize(wf, { a: leaf, b: first });
    expect(() => authority.authorize(wf, { a: leaf })).toThrow(
      expect.objectContaining({ rule: 'UnavailableProof' }),
    );
  });
});

interface Ucan1Signer {
  did: string;
  toString(): string;
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

describe('UCAN 1.0 envelopes signed with ES256 and ES256K (iso-signatures)', () => {
  const signers: Array<[string, () => Promise<Ucan1Signer>]> = [
    ['ES256', async () => await ECDSASigner.generate('P-256')],
    ['ES256K', () => Promise.resolve(ES256KSigner.generate() as unknown as Ucan1Signer)],
  ];
  const workflow = (n: number) =>
    parseWorkflow({
      tasks: [
        {
          run: { rsc: RSC, op: 'wasm/run', input: { func: 'add_one', args: [n] }, nnc: '' },
          cause: null,
          meta: {},
          prf: [],
        },
      ],
    });

  for (const [alg, generate] of signers)
    it(`${alg}: a chain is granted, a tampered signature refused, the other s not replayed`, async () => {
      const root = await generate();
      const client = await generate();
      const dlg = await Delegation.create({
        iss: root as never,
        aud: client.did as never,
        sub: root.did as never,
        cmd: '/wasm',
        pol: [] as never,
        exp: NOW + 3600,
        now: NOW,
      });
      const inv = await Invocation.create({
        iss: client as never,
        aud: node.did as never,
        sub: root.did as never,
        cmd: '/wasm/run',
        args: { rsc: RSC },
        prf: [dlg],
        exp: NOW + 600,
        now: NOW,
        verifierResolver: { verify: () => Promise.resolve(true) },
      } as never);
      const authority = createAuthority({
        identity: node,
        mode: 'ucan',
        trust: [root.did],
        checkers: [createUcan1Checker()],
        clock: () => NOW * 1000,
      });
      const delegation = b64(dlg.bytes);
      authority.authorize(workflow(1), { i: b64(inv.bytes), d: delegation });

      const [sig, signed] = dagCbor.decode(inv.bytes) as unknown as [Uint8Array, unknown];
      const broken = Uint8Array.from(sig);
      broken[10]! ^= 1;
      expect(() =>
        authority.authorize(workflow(2), {
          i: b64(dagCbor.encode([broken, signed] as never)),
          d: delegation,
        }),
      ).toThrow(expect.objectContaining({ rule: 'InvalidSignature' }));

      // The same invocation under its other valid signature (s → n − s): another CID, one use.
      const curve = alg === 'ES256' ? p256 : secp256k1;
      const parsed = curve.Signature.fromBytes(sig, 'compact');
      const flipped = new curve.Signature(parsed.r, curve.Point.CURVE().n - parsed.s).toBytes();
      const twin = b64(dagCbor.encode([flipped, signed] as never));
      expect(twin).not.toBe(b64(inv.bytes));
      expect(() => authority.authorize(workflow(3), { i: twin, d: delegation })).toThrow(
        expect.objectContaining({ rule: 'Replayed' }),
      );
    });
});
