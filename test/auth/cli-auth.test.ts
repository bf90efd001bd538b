// The full loop as a user runs it: `ipvm id` → `ipvm ucan delegate` (a chain of two
// delegations: node → client → node) → `ipvm run --auth ucan --proof`, and `ipvm start --auth
// ucan` driven over the JSON-RPC API: no proof, each invalid kind, the valid chain.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { WebSocket } from 'ws';
import type { ReceiptEvent } from '../../schemas/events.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'cli', 'bin.js');
const dirs: Record<'node' | 'client' | 'stranger', string> = { node: '', client: '', stranger: '' };
const did: Record<string, string> = {};
const tokens: Record<string, string> = {};

async function ipvm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function delegate(from: keyof typeof dirs, ...args: string[]): Promise<string> {
  const r = await ipvm('ucan', 'delegate', '--data-dir', dirs[from], ...args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

beforeAll(async () => {
  for (const k of Object.keys(dirs) as Array<keyof typeof dirs>)
    dirs[k] = await mkdtemp(join(tmpdir(), `ipvm-auth-${k}-`));
  await exec(process.execPath, [join(root, 'examples', 'build.ts'), '--data-dir', dirs.node], {
    cwd: root,
  });
  for (const k of ['node', 'client'] as const)
    did[k] = (await ipvm('id', '--data-dir', dirs[k])).stdout.trim();
  // The loop a user runs: the node delegates to the client, the client back to the node.
  const toClient = await delegate(
    'node',
    '--audience',
    did.client!,
    '--with',
    'ipfs://*',
    '--can',
    'wasm/*',
  );
  tokens.chain = await delegate(
    'client',
    '--audience',
    did.node!,
    '--with',
    'ipfs://*',
    '--can',
    'wasm/run',
    '--proof',
    toClient,
  );
  // The refusals, made in-process with the same keys.
  const { delegateJwt, loadIdentity } = await import('../../processors/auth/index.ts');
  const client = loadIdentity(dirs.client);
  const stranger = loadIdentity(dirs.stranger);
  const wasm = { with: 'ipfs://*', can: 'wasm/run', proofs: [toClient] };
  Object.assign(tokens, {
    expired: await delegateJwt({
      issuer: client,
      audience: did.node!,
      ...wasm,
      nowMs: Date.now() - 7_200_000,
      expiresInSeconds: 60,
    }),
    toStranger: await delegateJwt({ issuer: client, audience: stranger.did, ...wasm }),
    overreach: await delegateJwt({
      issuer: client,
      audience: did.node!,
      with: 'https://example.com/*',
      can: 'http/get',
      proofs: [toClient],
    }),
    fromStranger: await delegateJwt({
      issuer: stranger,
      audience: did.node!,
      with: 'ipfs://*',
      can: 'wasm/run',
    }),
  });
  tokens.tampered = tokens.chain.slice(0, -3) + (tokens.chain.endsWith('AAA') ? 'BBB' : 'AAA');
}, 120_000);

afterAll(async () => {
  for (const d of Object.values(dirs)) if (d !== '') await rm(d, { recursive: true, force: true });
});

describe('ipvm run --auth ucan', () => {
  it('prints a did:key and keeps the key private (0600)', async () => {
    expect(did.node).toMatch(/^did:key:z6Mk/);
    const { statSync } = await import('node:fs');
    expect(statSync(join(dirs.node, 'identity.pem')).mode & 0o777).toBe(0o600);
  });

  it('delegates to, and trusts, P-256 and secp256k1 keys; names a key type it does not read', async () => {
    const { p256 } = await import('@noble/curves/nist.js');
    const { secp256k1 } = await import('@noble/curves/secp256k1.js');
    const { didOfKey } = await import('../../processors/auth/signatures.ts');
    const others = [
      didOfKey('P-256', p256.getPublicKey(p256.utils.randomSecretKey(), true)),
      didOfKey('secp256k1', secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true)),
    ];
    for (const aud of others) {
      const token = await delegate(
        'node',
        '--audience',
        aud,
        '--with',
        'ipfs://*',
        '--can',
        'wasm/run',
      );
      const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
        aud: string;
      };
      expect(payload.aud).toBe(aud);
    }
    const rsa = 'did:key:z4MXj1wBzi9jUstyPMS4jQqB6KdJaiatPkAtVtGc6bQEQEEsKTic';
    const refused = await ipvm(
      'ucan',
      'delegate',
      '--data-dir',
      dirs.node,
      '--audience',
      rsa,
      '--with',
      'ipfs://*',
      '--can',
      'wasm/run',
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--audience: .*not an Ed25519, P-256 or secp256k1 key/);
    // A root of another key type is a valid --trust: the run gets as far as the proof check.
    const run = await ipvm(
      'run',
      '--auth',
      'ucan',
      '--trust',
      others.join(','),
      '--data-dir',
      dirs.node,
      'examples/workflows/add-one.json',
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/AuthError: InvalidClaim: no proof for this task/);
  });

  it('refuses a workflow without a proof (exit 1, located)', async () => {
    const r = await ipvm(
      'run',
      '--auth',
      'ucan',
      '--data-dir',
      dirs.node,
      'examples/workflows/add-one.json',
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /AuthError: InvalidClaim: no proof for this task \(task 0, instruction bafyrmi/,
    );
    expect(r.stdout).toBe('');
  });

  it('runs it under a chain of two delegations made with ipvm ucan delegate', async () => {
    const r = await ipvm(
      'run',
      '--json',
      '--auth',
      'ucan',
      '--proof',
      tokens.chain!,
      '--data-dir',
      dirs.node,
      'examples/workflows/add-one.json',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({
      status: 'completed',
      executed: 3,
    });
  });

  it('ipvm replay --verify checks receipt signatures too', async () => {
    const ok = await ipvm('replay', '--verify', '--json', '--data-dir', dirs.node);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ verified: 3, unsigned: 0, mismatches: [] });
    // A receipt with a good CID whose signature claims the node but is someone else's.
    const { createFileLog } = await import('../../streams/file/index.ts');
    const { decodeEvent, encodeEvent } = await import('../../schemas/events.ts');
    const { generateIdentity } = await import('../../processors/auth/index.ts');
    const log = createFileLog({ dir: join(dirs.node, 'log') });
    try {
      let first: Uint8Array | undefined;
      for await (const r of log.read('ipvm.pure')) first ??= r.value;
      const event = decodeEvent(first!) as ReceiptEvent;
      const forged = { ...event, sig: generateIdentity().sign(event.receipt.bytes) };
      await log.append('ipvm.pure', [{ key: 'forged', value: encodeEvent(forged), headers: {} }]);
    } finally {
      await log.close();
    }
    const bad = await ipvm('replay', '--verify', '--json', '--data-dir', dirs.node);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`signature of ${did.node} over receipt`);
  });
  it('runs it under a UCAN 0.10 chain (--ucv 0.10.0), its proofs linked by CID', async () => {
    const v010 = ['--with', 'ipfs://*', '--ucv', '0.10.0'];
    const toClient = await delegate('node', '--audience', did.client!, '--can', 'wasm/*', ...v010);
    const back = await delegate(
      'client',
      '--audience',
      did.node!,
      '--can',
      'wasm/run',
      '--proof',
      toClient,
      ...v010,
    );
    const payload = JSON.parse(Buffer.from(back.split('.')[1]!, 'base64url').toString()) as {
      ucv: string;
      prf: string[];
    };
    const { jwtCid } = await import('../../processors/auth/jwt.ts');
    expect(payload).toMatchObject({ ucv: '0.10.0', prf: [jwtCid(toClient)] });
    const run = (...proofs: string[]) =>
      ipvm(
        'run',
        '--json',
        '--auth',
        'ucan',
        ...proofs.flatMap((p) => ['--proof', p]),
        '--data-dir',
        dirs.node,
        'examples/workflows/add-one.json',
      );
    const unlinked = await run(back);
    expect(unlinked.code).toBe(1);
    expect(unlinked.stderr).toMatch(/UnavailableProof: proof bafkrei\w+ was not supplied/);
    const r = await run(back, toClient);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ status: 'completed' });
    // A 0.10 delegation cannot be backed by a 0.8.1 token (nor the reverse).
    const mixed = await ipvm(
      'ucan',
      'delegate',
      '--data-dir',
      dirs.client,
      '--audience',
      did.node!,
      '--can',
      'wasm/run',
      '--proof',
      tokens.chain!,
      ...v010,
    );
    expect(mixed.code).not.toBe(0);
    expect(mixed.stderr).toMatch(/Malformed: not a UCAN 0.10.0 token \(proof --proof #1\)/);
  });
});

/** A started node and a WebSocket client. */
describe('ipvm start --auth ucan, over the JSON-RPC API', () => {
  let child: ChildProcess;
  let ws: WebSocket;
  let url: string;
  let id = 0;
  const pending = new Map<number, (m: Record<string, unknown>) => void>();
  const notes: unknown[] = [];
  const call = (method: string, params?: unknown): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      const n = ++id;
      pending.set(n, resolve);
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: n, method, params }));
    });

  beforeAll(async () => {
    child = spawn(
      process.execPath,
      [
        bin,
        'start',
        '--auth',
        'ucan',
        '--rpc-port',
        '0',
        '--data-dir',
        dirs.node,
        '--log-level',
        'warn',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (b: Buffer) => {
        out += b.toString();
        const m = /rpc (ws:\/\/\S+)/.exec(out);
        if (m !== null) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`ipvm start exited ${code}`)));
    });
    ws = new WebSocket(url);
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as Record<string, unknown>;
      if (typeof m.id === 'number') pending.get(m.id)?.(m);
      else notes.push(m);
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  }, 60_000);

  afterAll(async () => {
    ws?.close();
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });

  const workflow = (n: number) => ({
    name: `auth-${n}`,
    workflow: {
      tasks: [
        {
          run: {
            rsc: 'ipfs://bafkreigc4g7ygs4m7ojs3dkqt64rjmyrdpglyo36ltd6462pf4pytn4weu',
            op: 'wasm/run',
            input: { func: 'add_one', args: [n] },
            nnc: '',
          },
          cause: null,
          meta: {},
          prf: [],
        },
      ],
    },
  });

  it('reports the DID as the peer id', async () => {
    const r = await call('node');
    expect(r.result).toMatchObject({ static: { peer_id: did.node } });
  });

  const refused: Array<[string, () => string[], string]> = [
    ['no proof', () => [], 'InvalidClaim'],
    ['a root the node does not trust', () => [tokens.fromStranger!], 'InvalidClaim'],
    ['another audience', () => [tokens.toStranger!], 'InvalidAudience'],
    ['an expired proof', () => [tokens.expired!], 'Expired'],
    ['another resource and ability', () => [tokens.overreach!], 'Overreach'],
    ['a tampered signature', () => [tokens.tampered!], 'InvalidSignature'],
  ];
  refused.forEach(([what, proofs, rule], i) => {
    it(`answers ${what} with a JSON-RPC error naming ${rule}`, async () => {
      const r = await call('subscribe_run_workflow', [{ ...workflow(100 + i), proofs: proofs() }]);
      expect(r.error).toMatchObject({ code: -32001, data: { rule, task: 0 } });
      expect((r.error as { data: { instruction: string } }).data.instruction).toMatch(/^bafyrmi/);
    });
  });

  it('runs a workflow under the chain of two delegations', async () => {
    const r = await call('subscribe_run_workflow', [{ ...workflow(200), proofs: [tokens.chain] }]);
    expect(typeof r.result, JSON.stringify(r)).toBe('string');
    for (let i = 0; i < 200 && notes.length === 0; i++) await new Promise((x) => setTimeout(x, 25));
    expect(notes).toHaveLength(1);
    const bytes = (notes[0] as { params: { result: number[] } }).params.result;
    expect(Buffer.from(bytes).toString()).toContain('201');
  });
  it('ipvm cancel: refused without a proof of workflow/cancel, even with the task proof', async () => {
    const { parseWorkflow } = await import('../../schemas/model.ts');
    const { chain } = await import('../conformance/engine.suite.ts');
    // Awaits an instruction nobody submits: it runs until cancelled.
    const missing = parseWorkflow(
      chain('ipfs://bafkreigc4g7ygs4m7ojs3dkqt64rjmyrdpglyo36ltd6462pf4pytn4weu', 1, 999_999),
    ).tasks[0]!.instruction;
    const held = {
      tasks: [
        {
          run: {
            rsc: 'ipfs://bafkreigc4g7ygs4m7ojs3dkqt64rjmyrdpglyo36ltd6462pf4pytn4weu',
            op: 'wasm/run',
            input: { func: 'add_one', args: [{ 'await/ok': { '/': missing.toString() } }] },
            nnc: 'held',
          },
          cause: null,
          meta: {},
          prf: [],
        },
      ],
    };
    const submitted = await call('ipvm_submit', [JSON.stringify(held), { proofs: [tokens.chain] }]);
    const cid = (submitted.result as { workflow: string }).workflow;
    expect(cid, JSON.stringify(submitted)).toMatch(/^bafyrmi/);
    const cancel = (...extra: string[]) => ipvm('cancel', cid, '--node', url, ...extra);

    const none = await cancel();
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/InvalidClaim: no proof of workflow\/cancel \(workflow bafyrmi/);
    const taskProof = await cancel('--proof', tokens.chain!);
    expect(taskProof.code).toBe(1);
    expect(taskProof.stderr).toMatch(/Overreach/);

    // node → client (every workflow) → node (this one), made with ipvm ucan delegate.
    const toClient = await delegate(
      'node',
      '--audience',
      did.client!,
      '--with',
      'ipvm:workflow:*',
      '--can',
      'workflow/cancel',
    );
    const back = await delegate(
      'client',
      '--audience',
      did.node!,
      '--with',
      `ipvm:workflow:${cid}`,
      '--can',
      'workflow/cancel',
      '--proof',
      toClient,
    );
    const ok = await cancel('--proof', back, '--reason', 'cli');
    expect(ok.code, ok.stderr).toBe(0);
    const end = await call('ipvm_ended', [cid]);
    expect(end.result).toMatchObject({ status: 'failed', reason: 'cancelled: cli' });
  });
});
