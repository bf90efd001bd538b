// The package as a user installs it: `npm pack` (whose prepack compiles the node and the client
// to dist/), the tarball unpacked into a fresh project's node_modules — where Node strips no
// types, so only the compiled JavaScript can load. The installed `ipvm` starts a node (its API,
// console and engine from dist/) and runs a workflow; a plain `.mjs` program imports
// `ipvm-node/client` and runs a workflow on that node. The project's other dependencies are
// linked from this repository's node_modules (nothing is downloaded). A TypeScript program
// type-checks against the shipped declarations too.
import { execFile, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIpvmNode } from '../harness/ipvm-start.ts';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
let base: string;
let project: string;
let installed: string;
let node: ChildProcessWithoutNullStreams | undefined;
let url: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'ipvm-client-installed-'));
  const dataDir = join(base, 'data');
  project = join(base, 'project');
  installed = join(project, 'node_modules', 'ipvm-node');
  await mkdir(installed, { recursive: true });

  const packed = await exec('npm', ['pack', '--silent', '--pack-destination', base], {
    cwd: root,
  });
  const tarball = join(base, packed.stdout.trim().split('\n').at(-1)!);
  await exec('tar', ['xzf', tarball, '-C', installed, '--strip-components=1']);
  const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  for (const dep of Object.keys(manifest.dependencies)) {
    const at = join(project, 'node_modules', dep);
    await mkdir(dirname(at), { recursive: true });
    await symlink(join(root, 'node_modules', dep), at);
  }
  await writeFile(join(project, 'package.json'), '{"type":"module","private":true}\n');

  await exec(process.execPath, [join(root, 'examples', 'build.ts'), '--data-dir', dataDir], {
    cwd: root,
  });
  ({ child: node, url } = await startIpvmNode(
    dataDir,
    60_000,
    [],
    join(installed, 'cli', 'bin.js'),
  ));
}, 240_000);

afterAll(async () => {
  if (node !== undefined && node.exitCode === null) {
    node.kill('SIGTERM');
    await new Promise((r) => node!.once('exit', r));
  }
  await rm(base, { recursive: true, force: true });
});

describe('the packed package', () => {
  it('ships the compiled node and client and leaves no build output in the clone', () => {
    for (const f of ['index.js', 'index.d.ts', 'errors.js', 'errors.d.ts']) {
      expect(existsSync(join(installed, 'dist', 'client', f)), f).toBe(true);
    }
    for (const f of [
      'cli/main.js',
      'processors/wasm/worker.js',
      'processors/wasm/jco-thread.js',
      'processors/tables/row-mapper.worker.js',
      'processors/api/console/index.html',
    ]) {
      expect(existsSync(join(installed, 'dist', f)), f).toBe(true);
    }
    expect(existsSync(join(root, 'dist'))).toBe(false);
  });

  it('loads each worker of the compiled node (they are started by path, not imported)', async () => {
    const { Worker } = await import('node:worker_threads');
    for (const f of ['wasm/worker.js', 'wasm/jco-thread.js', 'tables/row-mapper.worker.js']) {
      const worker = new Worker(join(installed, 'dist', 'processors', f), {
        workerData: { verify: false },
      });
      const outcome = await new Promise<string>((resolve) => {
        worker.once('error', (e) => resolve(`${f}: ${e.message}`));
        worker.once('online', () => setTimeout(() => resolve('loaded'), 300));
      });
      await worker.terminate();
      expect(outcome, f).toBe('loaded');
    }
  });

  it('runs the installed `ipvm`, compiled: a workflow, and the started node serves its console', async () => {
    // A data directory of its own: the started node holds the other one's writer lock.
    const dataDir = join(base, 'run-data');
    await exec(process.execPath, [join(root, 'examples', 'build.ts'), '--data-dir', dataDir], {
      cwd: root,
    });
    const bin = join(installed, 'cli', 'bin.js');
    const workflow = join(root, 'examples', 'workflows', 'add-one.json');
    const { stdout, stderr } = await exec(
      process.execPath,
      [bin, 'run', workflow, '--data-dir', dataDir],
      {
        cwd: project,
      },
    );
    expect(stdout).toMatch(/ok {2}add bafy\w+ → 13\n/);
    expect(stderr).toMatch(/completed: 3 tasks, 3 executed, 0 replayed/);
    const http = url.replace(/^ws:/, 'http:');
    const page = await fetch(`${http}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<html/i);
    expect((await fetch(`${http}/health`)).status).toBe(200);
  }, 120_000);

  it('runs a workflow from a plain .mjs program through `ipvm-node/client`', async () => {
    const program = join(project, 'run.mjs');
    await writeFile(
      program,
      `import { readFile } from 'node:fs/promises';
import { connect, NodeRpcError } from 'ipvm-node/client';

const node = await connect(process.argv[2], { signal: AbortSignal.timeout(30_000) });
try {
  const run = await node.run(await readFile(process.argv[3]));
  const outs = [];
  for await (const r of run.receipts) outs.push([r.func, r.out]);
  const end = await run.ended;
  const refused = await node.submit('{"tasks": 1}').then(
    () => 'accepted',
    (e) => [e instanceof NodeRpcError, e.message],
  );
  console.log(JSON.stringify({ outs, status: end.status, resolved: import.meta.resolve('ipvm-node/client'), refused }));
} finally {
  await node.close();
}
`,
    );
    const { stdout } = await exec(
      process.execPath,
      [program, url, join(root, 'examples', 'workflows', 'add-one.json')],
      { cwd: project },
    );
    const result = JSON.parse(stdout) as {
      outs: [string, unknown][];
      status: string;
      resolved: string;
      refused: unknown;
    };
    expect(result.resolved).toMatch(/node_modules\/ipvm-node\/dist\/client\/index\.js$/);
    expect(result.outs).toEqual([
      ['add_one', ['ok', 2]],
      ['add_one', ['ok', 3]],
      ['add', ['ok', 13]],
    ]);
    expect(result.status).toBe('completed');
    // a malformed workflow is refused before it is sent, with a located error
    expect(result.refused).toEqual([false, expect.stringMatching(/^tasks: /)]);
  }, 60_000);

  it('type-checks a TypeScript program against the shipped declarations', async () => {
    await writeFile(
      join(project, 'check.ts'),
      `import { connect, NodeConnectionError, type ReceiptLine } from 'ipvm-node/client';
const node = await connect('ws://127.0.0.1:1');
const run = await node.run('{"tasks": []}');
for await (const r of run.receipts) {
  const line: ReceiptLine = r;
  const func: string = line.func;
  console.log(func, (await run.ended).status, NodeConnectionError.name);
}
// @ts-expect-error the client has no such method
await node.nope();
`,
    );
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2023',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: [],
        },
        files: ['check.ts'],
      }),
    );
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = await exec(process.execPath, [tsc, '-p', project]).catch(
      (e: { stdout: string }) => e,
    );
    expect(r.stdout).toBe('');
  }, 60_000);
});
