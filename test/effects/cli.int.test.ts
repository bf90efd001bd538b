// `ipvm run` with effects, spawned as a user runs it, against a real local HTTP server:
// IPVM_ALLOW_NET, --json effect receipts with their stream. (Refusals: effects.int.test.ts;
// the --allow-net flag: the README quickstart's `npm run example:effects`.)
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './server.ts';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'cli', 'bin.js');
let dir: string;
let server: TestServer;

function ipvm(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('IPVM_')),
    );
    execFile(
      process.execPath,
      [bin, ...args],
      { cwd: root, env: { ...clean, ...env } },
      (err, stdout, stderr) =>
        resolve({
          code: err === null ? 0 : ((err as { code?: number }).code ?? 1),
          stdout,
          stderr,
        }),
    );
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-cli-fx-'));
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('ipvm run with effects', () => {
  it('takes the allow-list from IPVM_ALLOW_NET and prints effect receipts with their stream', async () => {
    const wf = join(dir, 'wf.json');
    await writeFile(
      wf,
      JSON.stringify({
        tasks: [
          {
            run: {
              rsc: `${server.base}/doc`,
              op: 'http/get',
              input: { response: 'json' },
              nnc: 'cli',
            },
          },
          {
            run: {
              rsc: `${server.base}/items/cli`,
              op: 'http/put',
              input: { body: { a: 1 } },
              nnc: 'cli',
            },
          },
        ],
      }),
    );
    const ok = await ipvm(['run', '--json', '--data-dir', join(dir, 'data'), wf], {
      IPVM_ALLOW_NET: `127.0.0.1:${server.port}`,
    });
    expect(ok.code, ok.stderr).toBe(0);
    const lines = ok.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const get = lines.find((l) => l.stream === 'effects.pure')!;
    expect(get.out).toEqual([
      'ok',
      { status: 200, headers: expect.any(Object), body: { value: 41 } },
    ]);
    expect(lines.find((l) => l.stream === 'effects.managed')!.out).toMatchObject([
      'ok',
      { status: 201 },
    ]);
  }, 120_000);
});
