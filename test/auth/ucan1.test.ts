// UCAN 1.0 verdicts on tokens made in the test (so a clone without the fixtures checks them):
// an invocation backed by a delegation from a trusted root runs a task; replayed in another
// workflow, over-reaching, from an untrusted root, expired at the injected clock — refused.
// (Policy violations: the fixtures' MatchError case; iso-ucan will not even create one.)
import { Delegation } from 'iso-ucan/delegation';
import { Invocation } from 'iso-ucan/invocation';
import { EdDSASigner } from 'iso-signatures/signers/eddsa.js';
import { describe, expect, it } from 'vitest';
import { createAuthority, identityOf } from '../../processors/auth/index.ts';
import { privateKeyObject } from '../../processors/auth/ed25519.ts';
import { parseWorkflow } from '../../schemas/model.ts';

const RSC = 'ipfs://bafkreigc4g7ygs4m7ojs3dkqt64rjmyrdpglyo36ltd6462pf4pytn4weu';
const NOW = 1_800_000_000; // seconds

interface Signer {
  did: string;
  toString(): string;
}

async function signer(): Promise<{ s: Signer; seed: Uint8Array }> {
  const seed = crypto.getRandomValues(new Uint8Array(32));
  const s = (await EdDSASigner.generate(seed)) as unknown as Signer;
  return { s, seed };
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

async function setup(exp: number | null = NOW + 600, delegated = '/wasm') {
  const root = await signer();
  const client = await signer();
  const node = identityOf(privateKeyObject((await signer()).seed));
  const dlg = await Delegation.create({
    iss: root.s as never,
    aud: client.s.did as never,
    sub: root.s.did as never,
    cmd: delegated,
    pol: [] as never,
    exp: NOW + 3600,
    now: NOW,
  });
  const invoke = async (rsc: string, invExp: number | null = exp, cmd = '/wasm/run') => {
    const inv = await Invocation.create({
      iss: client.s as never,
      aud: node.did as never,
      sub: root.s.did as never,
      cmd,
      args: { rsc },
      prf: [dlg],
      exp: invExp,
      now: NOW,
      verifierResolver: { verify: () => Promise.resolve(true) },
    } as never);
    return { [inv.cid.toString()]: b64(inv.bytes), [dlg.cid.toString()]: b64(dlg.bytes) };
  };
  const authority = createAuthority({
    identity: node,
    mode: 'ucan',
    trust: [root.s.did],
    clock: () => NOW * 1000,
  });
  return { authority, invoke, node };
}

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

describe('UCAN 1.0 invocations made in the test', () => {
  it('authorizes a task, then refuses the same single-use invocation for another workflow', async () => {
    const { authority, invoke } = await setup();
    const proofs = await invoke(RSC);
    authority.authorize(workflow(1), proofs);
    authority.authorize(workflow(1), proofs); // the same workflow again (recovery): fine
    expect(() => authority.authorize(workflow(2), proofs)).toThrow(
      expect.objectContaining({ rule: 'Replayed' }),
    );
  });

  it('refuses an invocation for another resource', async () => {
    const { authority, invoke } = await setup();
    const p = await invoke('ipfs://bafkqaaa');
    expect(() => authority.authorize(workflow(3), p)).toThrow(
      expect.objectContaining({
        rule: 'Overreach',
        location: expect.objectContaining({ task: 0 }),
      }),
    );
  });

  it('refuses a chain whose root the node does not trust', async () => {
    const { invoke, node } = await setup();
    const strict = createAuthority({ identity: node, mode: 'ucan', clock: () => NOW * 1000 });
    const p = await invoke(RSC);
    expect(() => strict.authorize(workflow(4), p)).toThrow(
      expect.objectContaining({ rule: 'InvalidClaim' }),
    );
  });

  it("checks the invocation's own exp against the injected clock", async () => {
    const { authority, invoke } = await setup();
    // Expired at the node's clock, although iso-ucan alone would compare with the wall clock.
    const p = await invoke(RSC, NOW - 1);
    expect(() => authority.authorize(workflow(5), p)).toThrow(
      expect.objectContaining({ rule: 'Expired' }),
    );
  });

  it('grants a cancel only to an invocation of /workflow/cancel on the workflow', async () => {
    const { authority, invoke } = await setup(NOW + 600, '/workflow');
    const cid = workflow(6).cid.toString();
    const other = workflow(7).cid.toString();
    expect(() => authority.authorizeCancel(cid, undefined)).toThrow(
      expect.objectContaining({ rule: 'InvalidClaim', location: { workflow: cid } }),
    );
    const refused: Array<[string, string]> = [
      [`ipvm:workflow:${other}`, '/workflow/cancel'],
      [`ipvm:workflow:${cid}`, '/workflow/run'],
    ];
    for (const [rsc, cmd] of refused) {
      const proofs = await invoke(rsc, NOW + 600, cmd);
      expect(() => authority.authorizeCancel(cid, proofs)).toThrow(
        expect.objectContaining({
          rule: 'Overreach',
          location: expect.objectContaining({ workflow: cid }),
        }),
      );
    }
    const proofs = await invoke(`ipvm:workflow:${cid}`, NOW + 600, '/workflow/cancel');
    authority.authorizeCancel(cid, proofs);
    authority.authorizeCancel(cid, proofs); // read back from the stream: the same cancel
  });
});
