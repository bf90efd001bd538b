// The cost of authority: verifying an invocation's proofs, signing and verifying receipts,
// beside the bare Ed25519 floor measured in the same run; and the engine's steps/s with
// `--auth ucan` against `--auth open` (trivial core-Wasm tasks on the embedded file log).
//
//   node bench/auth.bench.ts [--seconds 3] [--concurrency 64]
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileLog } from '../streams/file/index.ts';
import { createNode } from '../processors/engine/node.ts';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import {
  createAuthority,
  delegateJwt,
  didOfKey,
  verifySignature,
  generateIdentity,
  type Authority,
} from '../processors/auth/index.ts';
import { newReceiptEvent } from '../processors/engine/receipts.ts';
import { parseWorkflow } from '../schemas/model.ts';
import type { IpldValue } from '../schemas/ipld.ts';
import { createCoreRunner } from '../test/harness/core-runner.ts';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const SECONDS = Number(arg('seconds', '3'));
const CONCURRENCY = Number(arg('concurrency', '64'));
const root = mkdtempSync(join(tmpdir(), 'ipvm-bench-auth-'));

/** µs per call of `fn`, median of 5 rounds of `n` calls. */
function perOp(n: number, fn: (i: number) => void): number {
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) fn(i);
    rounds.push(((performance.now() - t) * 1000) / n);
  }
  return rounds.sort((a, b) => a - b)[2]!;
}

const rows: Array<[string, string, string]> = [];
const row = (what: string, value: string, note = ''): void => {
  rows.push([what, value, note]);
};

// --- floor: bare Ed25519 over a 36-byte message (the size of a receipt CID) ----------------
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const msg = new Uint8Array(36).fill(7);
const sig = sign(null, msg, privateKey);
const floorSign = perOp(2_000, () => sign(null, msg, privateKey));
const floorVerify = perOp(2_000, () => verify(null, msg, publicKey, sig));
row('Ed25519 sign (node:crypto), floor', `${floorSign.toFixed(1)} µs`);
row('Ed25519 verify (node:crypto), floor', `${floorVerify.toFixed(1)} µs`);

// --- issuers with ECDSA keys: one signature check of a token (@noble/curves, pure JS) ------
for (const [alg, curve, type] of [
  ['ES256', p256, 'P-256'],
  ['ES256K', secp256k1, 'secp256k1'],
] as const) {
  const secret = curve.utils.randomSecretKey();
  const did = didOfKey(type, curve.getPublicKey(secret, true));
  const signature = curve.sign(msg, secret);
  const cost = perOp(200, () => verifySignature(did, alg, msg, signature));
  row(
    `${alg} verify (${type} issuer)`,
    `${cost.toFixed(1)} µs`,
    `${(cost / floorVerify).toFixed(1)}× floor`,
  );
}

// --- per invocation and per receipt -------------------------------------------------------
const nodeKey = generateIdentity();
const rootKey = generateIdentity();
const client = generateIdentity();
const runner = await createCoreRunner();
const toClient = await delegateJwt({
  issuer: rootKey,
  audience: client.did,
  with: 'ipfs://*',
  can: 'wasm/*',
});
const leaf = await delegateJwt({
  issuer: client,
  audience: nodeKey.did,
  with: runner.rsc,
  can: 'wasm/run',
  proofs: [toClient],
});
const proofs = { leaf };
const ucan = createAuthority({ identity: nodeKey, mode: 'ucan', trust: [rootKey.did] });
const task = (n: number): IpldValue => ({
  run: { rsc: runner.rsc, op: 'wasm/run', input: { func: 'add_one', args: [n] }, nnc: '' },
  cause: null,
  meta: {},
  prf: [],
});
const wfs = Array.from({ length: 2_000 }, (_, i) => parseWorkflow({ tasks: [task(i)] }));
// First use: parse + 2 signature checks per chain (each token a new one).
const fresh = await Promise.all(
  Array.from({ length: 200 }, async (_, i) => ({
    leaf: await delegateJwt({
      issuer: client,
      audience: nodeKey.did,
      with: runner.rsc,
      can: 'wasm/run',
      proofs: [
        await delegateJwt({
          issuer: rootKey,
          audience: client.did,
          with: 'ipfs://*',
          can: 'wasm/*',
          expiresInSeconds: 3600 + i,
        }),
      ],
    }),
  })),
);
// One round only: a second one would find the signatures cached.
const coldStart = performance.now();
for (let i = 0; i < fresh.length; i++) ucan.authorize(wfs[i]!, fresh[i]);
const coldVerify = ((performance.now() - coldStart) * 1000) / fresh.length;
row(
  'authorize 1 task, new 2-link JWT chain',
  `${coldVerify.toFixed(1)} µs`,
  `${(coldVerify / floorVerify).toFixed(1)}× one verify`,
);
const warmVerify = perOp(2_000, (i) => ucan.authorize(wfs[i]!, proofs));
row(
  'authorize 1 task, chain seen before',
  `${warmVerify.toFixed(1)} µs`,
  'signatures cached; time, audience, trust, revocation rechecked',
);
const receipts = wfs.slice(0, 1_000).map((w) =>
  newReceiptEvent({
    instruction: w.tasks[0]!.instruction,
    invocation: w.tasks[0]!.invocation,
    workflow: w.cid,
    run: w.tasks[0]!.task.run,
    out: ['ok', 1],
    fuel: 1,
    durationMs: 0,
    executor: 'bench',
    at: 0,
  }),
);
const signed = await Promise.all(receipts.map((r) => ucan.sign(r)));
// Signing goes through WebCrypto (libuv's thread pool): the median of 5 rounds of 1 000
// receipts signed at once, per receipt, wall time.
const signRounds: number[] = [];
for (let r = 0; r < 5; r++) {
  const t = performance.now();
  await Promise.all(receipts.map((x) => ucan.sign(x)));
  signRounds.push(((performance.now() - t) * 1000) / receipts.length);
}
const signCost = signRounds.sort((a, b) => a - b)[2]!;
row(
  'sign a receipt (WebCrypto, 1 000 at once)',
  `${signCost.toFixed(1)} µs`,
  `${(signCost / floorSign).toFixed(2)}× floor (wall time per receipt)`,
);
const verifyCost = perOp(1_000, (i) => ucan.verifyForeign(signed[i]!));
row(
  'verify a foreign receipt (CID + signature)',
  `${verifyCost.toFixed(1)} µs`,
  `${(verifyCost / floorVerify).toFixed(2)}× floor`,
);

// --- engine steps/s, open vs ucan -----------------------------------------------------------
async function steps(mode: 'none' | 'open' | 'ucan'): Promise<number> {
  const log = createFileLog({ dir: join(root, `log-${mode}`) });
  const authority: Authority | undefined =
    mode === 'none'
      ? undefined
      : createAuthority({ identity: nodeKey, mode, trust: [rootKey.did] });
  const node = await createNode({ log, runner, concurrency: 256, authority });
  let done = 0;
  let next = 1_000_000 * (mode === 'ucan' ? 2 : mode === 'open' ? 1 : 3);
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const wf = parseWorkflow({ tasks: [task(next++)] });
      await node.submit(wf.bytes, { proofs });
      await node.ended(wf.cid);
      done++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const rate = done / ((performance.now() - started) / 1000);
  await node.close();
  await log.close();
  return rate;
}
await steps('none'); // warm-up (JIT, page cache), not reported
const none = await steps('none');
const open = await steps('open');
const withUcan = await steps('ucan');
row(
  `engine steps/s, no authority (c=${CONCURRENCY})`,
  none.toFixed(0),
  'unsigned receipts (before this layer)',
);
row(
  `engine steps/s, --auth open`,
  open.toFixed(0),
  `${((open / none - 1) * 100).toFixed(1)}% (receipts signed)`,
);
row(
  `engine steps/s, --auth ucan`,
  withUcan.toFixed(0),
  `${((withUcan / none - 1) * 100).toFixed(1)}% (+ every submission authorized)`,
);

rmSync(root, { recursive: true, force: true });
console.log(
  `\nauth bench — ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}, ${SECONDS} s per engine run\n`,
);
const w = Math.max(...rows.map((r) => r[0].length));
for (const [a, b, c] of rows) console.log(`${a.padEnd(w)}  ${b.padStart(12)}  ${c}`);
