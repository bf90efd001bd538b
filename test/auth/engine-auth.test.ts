// The engine in `ucan` mode: submissions refused before anything runs (located errors), a
// valid chain of two delegations runs, stream submissions without proofs are dead-lettered,
// receipts are signed, and a forged receipt on the receipt stream is refused while its
// instruction is executed (not replayed; forged-receipt.suite.ts, also run on Kafka and NATS).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log } from '../../streams/log.ts';
import { DEAD_LETTER_HEADERS } from '../../streams/dead-letter.ts';
import { createNode, type IpvmNode } from '../../processors/engine/node.ts';
import { createAuthority } from '../../processors/auth/index.ts';
import { delegateJwt, jwtCid } from '../../processors/auth/jwt.ts';
import { generateIdentity, type Identity } from '../../processors/auth/identity.ts';
import { ed25519Verify } from '../../processors/auth/ed25519.ts';
import type { ReceiptEvent } from '../../schemas/events.ts';
import { encodeReceipt, parseWorkflow } from '../../schemas/model.ts';
import { eventRecord } from '../../processors/engine/envelope.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';
import { chain } from '../conformance/engine.suite.ts';
import { deadLetters, describeForgedReceipt } from './forged-receipt.suite.ts';

let dir: string;
let log: Log;
let runner: CoreRunner;
let ns = 0;
const nodeKey = generateIdentity();
const root = generateIdentity(); // trusted by the node
const client = generateIdentity();
const stranger = generateIdentity(); // not trusted

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-auth-'));
  log = createFileLog({ dir });
  runner = await createCoreRunner();
});
afterAll(async () => {
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

/** Dead-letter progress events of the nodes opened here. */
const letters: Array<{ stream: string; reason: string }> = [];

async function openNode(revoked: string[] = []): Promise<IpvmNode> {
  return createNode({
    log,
    onProgress: (e) => {
      if (e.type === 'node:dead-letter') letters.push({ stream: e.stream, reason: e.reason });
      if (e.type === 'node:error') console.error(e.error);
    },
    runner,
    topology: { namespace: `auth${++ns}` },
    authority: createAuthority({
      identity: nodeKey,
      mode: 'ucan',
      trust: [root.did],
      revoked,
    }),
  });
}

/** root → client (ipfs://*, wasm/run) → node (the module), as a client would hold it. */
async function twoLinks(
  opts: {
    issuer?: Identity;
    audience?: string;
    with?: string;
    can?: string;
    expires?: number;
  } = {},
): Promise<Record<string, string>> {
  const first = await delegateJwt({
    issuer: opts.issuer ?? root,
    audience: client.did,
    with: 'ipfs://*',
    can: 'wasm/*',
  });
  const second = await delegateJwt({
    issuer: client,
    audience: opts.audience ?? nodeKey.did,
    with: opts.with ?? runner.rsc,
    can: opts.can ?? 'wasm/run',
    expiresInSeconds: opts.expires ?? 600,
    proofs: [first],
  });
  return { [jwtCid(second)]: second };
}

describe('engine with --auth ucan', () => {
  it('refuses a workflow without a proof, located at the task, and runs nothing', async () => {
    const node = await openNode();
    try {
      const wf = chain(runner.rsc, 2, 1, 'noproof');
      const before = runner.total;
      const err = await node.submit(wf).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'AuthError', rule: 'InvalidClaim', location: { task: 0 } });
      expect((err as Error).message).toContain(parseWorkflow(wf).tasks[0]!.instruction.toString());
      expect(runner.total).toBe(before);
    } finally {
      await node.close();
    }
  });

  it('runs a workflow under a chain of two delegations and signs its receipts', async () => {
    const node = await openNode();
    try {
      const wf = chain(runner.rsc, 3, 1, 'chain2');
      const parsed = parseWorkflow(wf);
      const receipts: ReceiptEvent[] = [];
      const sub = node.receipts(parsed.cid).subscribe((r) => receipts.push(r));
      await node.submit(wf, { proofs: await twoLinks() });
      const end = await node.ended(parsed.cid);
      sub.unsubscribe();
      expect(end.type).toBe('workflow/completed');
      expect(receipts).toHaveLength(3);
      for (const r of receipts) {
        expect(r.body.iss).toBeNull(); // the receipt (and its CID) stays Homestar's
        expect(encodeReceipt(r.body).cid.toString()).toBe(r.receipt.toString());
        expect(r.iss).toBe(nodeKey.did);
        expect(ed25519Verify(nodeKey.did, r.receipt.bytes, r.sig!)).toBe(true);
      }
    } finally {
      await node.close();
    }
  });

  const refusals: Array<[string, () => Promise<Record<string, string>>, string]> = [
    ['an untrusted root', () => twoLinks({ issuer: stranger }), 'InvalidClaim'],
    ['another audience', () => twoLinks({ audience: stranger.did }), 'InvalidAudience'],
    ['an expired link', () => twoLinks({ expires: -10 }), 'Expired'],
    ['another module', () => twoLinks({ with: 'ipfs://bafkqaaa' }), 'Overreach'],
    ['another ability', () => twoLinks({ can: 'http/get' }), 'Overreach'],
    [
      'a tampered signature',
      async () => {
        const p = await twoLinks();
        const t = Object.values(p)[0]!;
        const bad = t.slice(0, -4) + (t.endsWith('AAAA') ? 'BBBB' : 'AAAA');
        return { [jwtCid(bad)]: bad };
      },
      'InvalidSignature',
    ],
  ];
  for (const [what, proofs, rule] of refusals) {
    it(`refuses ${what} (${rule}) before anything runs`, async () => {
      const node = await openNode();
      try {
        const before = runner.total;
        const err = await node
          .submit(chain(runner.rsc, 1, 7, what), { proofs: await proofs() })
          .catch((e: unknown) => e);
        expect(err).toMatchObject({ name: 'AuthError', rule, location: { task: 0 } });
        expect(runner.total).toBe(before);
      } finally {
        await node.close();
      }
    });
  }

  it('refuses a revoked link', async () => {
    const proofs = await twoLinks();
    const leaf = Object.values(proofs)[0]!;
    const node = await openNode([jwtCid(leaf)]);
    try {
      const err = await node
        .submit(chain(runner.rsc, 1, 9, 'revoked'), { proofs })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ rule: 'Revoked' });
    } finally {
      await node.close();
    }
  });

  it('dead-letters a submission appended to the stream without proofs; nothing runs', async () => {
    const node = await openNode();
    try {
      const wf = parseWorkflow(chain(runner.rsc, 1, 11, 'stream'));
      const before = runner.total;
      await log.append(node.topology.name('invocations'), [
        eventRecord(wf.cid.toString(), {
          type: 'workflow/submitted',
          workflow: wf.cid,
          body: wf.workflow,
          name: null,
          at: Date.now(),
        }),
      ]);
      const dead = await deadLetters(log, node);
      expect(dead, JSON.stringify(letters)).toHaveLength(1);
      expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toMatch(/^InvalidClaim: .*task 0/);
      expect(runner.total).toBe(before);
    } finally {
      await node.close();
    }
  });

  it('dead-letters a ready task appended by a producer for no authorized workflow', async () => {
    const node = await openNode();
    try {
      const wf = parseWorkflow(chain(runner.rsc, 1, 21, 'injected'));
      const t = wf.tasks[0]!;
      const before = runner.total;
      await log.append(node.topology.name('invocations'), [
        eventRecord(t.instruction.toString(), {
          type: 'task/ready',
          workflow: wf.cid,
          instruction: t.instruction,
          invocation: t.invocation,
          task: t.task,
          args: [21],
          at: Date.now(),
        }),
      ]);
      const dead = await deadLetters(log, node);
      expect(dead, JSON.stringify(letters)).toHaveLength(1);
      expect(dead[0]!.headers[DEAD_LETTER_HEADERS.reason]).toContain('no authorized submission');
      expect(runner.total).toBe(before);
    } finally {
      await node.close();
    }
  });
});

describe('a forged receipt, on the embedded file log', () => {
  describeForgedReceipt(
    () => Promise.resolve(createFileLog({ dir: join(dir, 'forged') })),
    'forged',
  );
});

describe('an effect in ucan mode', () => {
  it('needs a proof covering its URL and its ability, located at the task', async () => {
    const authority = createAuthority({ identity: nodeKey, mode: 'ucan', trust: [root.did] });
    const get = (url: string) =>
      parseWorkflow({
        tasks: [
          {
            run: { rsc: url, op: 'http/get', input: {}, nnc: '' },
            cause: null,
            meta: {},
            prf: [],
          },
        ],
      });
    const grant = async (w: string, can: string) => {
      const t = await delegateJwt({ issuer: root, audience: nodeKey.did, with: w, can });
      return { [jwtCid(t)]: t };
    };
    const url = 'https://api.example.com/v1/items';
    authority.authorize(get(url), await grant('https://api.example.com/*', 'http/get'));
    authority.authorize(get(url), await grant('https://api.example.com/*', 'http/*'));
    const refused: Array<[string, string, string]> = [
      ['https://other.example/*', 'http/get', 'another host'],
      ['https://api.example.com/*', 'http/post', 'another ability'],
      ['ipfs://*', 'wasm/*', "the tasks' proof"],
    ];
    for (const [w, can, what] of refused) {
      const proofs = await grant(w, can);
      expect(() => authority.authorize(get(url), proofs), what).toThrow(
        expect.objectContaining({
          rule: 'Overreach',
          location: expect.objectContaining({ task: 0, instruction: expect.any(String) }),
        }),
      );
    }
    expect(() => authority.authorize(get(url), undefined)).toThrow(
      expect.objectContaining({ rule: 'InvalidClaim' }),
    );
  });
});
