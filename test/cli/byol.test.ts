// Bring your own language as a user runs it: `ipvm init --lang …` writes a starter, `ipvm build
// --add` turns it into a stored component, `ipvm run` calls its function through a workflow.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = join(import.meta.dirname, '..', '..', 'cli', 'bin.js');
let cwd: string;

async function ipvm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], {
      cwd,
      env: { ...process.env, IPVM_DATA_DIR: join(cwd, '.ipvm') },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const SMALL = { fuel: 1_000_000, memory: 1 << 20, time: 5000 };
/** What StarlingMonkey needs: it starts with ~9 MB of memory; `add` costs ~1.8M fuel units. */
const JS_LIMITS = { fuel: 100_000_000, memory: 64 << 20, time: 30_000 };

/** A one-task workflow calling `func(...args)` of the module `cid`. */
function workflow(cid: string, func: string, args: unknown[], meta = SMALL): string {
  const run = { input: { args, func }, nnc: '', op: 'wasm/run', rsc: `ipfs://${cid}` };
  return JSON.stringify({ tasks: [{ cause: null, meta, prf: [], run }] });
}

/** init + build --add + run: the starter's `add(2, 40)` through the node. */
async function initBuildRun(lang: string, name: string, limits = SMALL): Promise<void> {
  const init = await ipvm('init', '--lang', lang, name);
  expect(init.code, init.stderr).toBe(0);
  expect(await readFile(join(cwd, name, 'world.wit'), 'utf8')).toContain(`world ${name} {`);

  const built = await ipvm('build', name, '--add');
  expect(built.code, built.stderr).toBe(0);
  const [path, cid] = built.stdout.trim().split('\n');
  expect(path).toBe(join(name, 'build', 'component.wasm'));
  // what `ipvm add` prints for the same file
  const added = await ipvm('add', path!);
  expect(added.stdout.trim()).toBe(cid);

  await writeFile(join(cwd, `${name}.json`), workflow(cid!, 'add', [2, 40], limits));
  const ran = await ipvm('run', '--json', `${name}.json`);
  expect(ran.code, ran.stderr).toBe(0);
  const receipt = JSON.parse(ran.stdout.trim().split('\n')[0]!) as Record<string, unknown>;
  expect(receipt).toMatchObject({ func: 'add', out: ['ok', 42] });
}

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'ipvm-byol-'));
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe('ipvm init + build', () => {
  it('AssemblyScript: init, build --add, run a workflow calling the starter', async () => {
    await initBuildRun('as', 'demo');
  }, 60_000);

  it('WAT: init, build --add, run a workflow calling the starter', async () => {
    await initBuildRun('wat', 'demo-wat');
  }, 60_000);

  it('a syntax error is located (file, line, column) and exits 1', async () => {
    expect((await ipvm('init', '--lang', 'as', 'broken')).code).toBe(0);
    const file = join(cwd, 'broken', 'add.ts');
    await writeFile(file, (await readFile(file, 'utf8')).replace('a + b;', 'a + ;'));
    // a component from an earlier build must not be left looking like this build's output
    await mkdir(join(cwd, 'broken', 'build'));
    await writeFile(join(cwd, 'broken', 'build', 'component.wasm'), 'stale');
    const as = await ipvm('build', 'broken');
    expect(as.code).toBe(1);
    expect(existsSync(join(cwd, 'broken', 'build', 'component.wasm'))).toBe(false);
    expect(as.stderr).toContain('broken/add.ts does not build');
    expect(as.stderr).toMatch(/add\.ts\(3,\d+\)/);

    expect((await ipvm('init', '--lang', 'wat', 'broken-wat')).code).toBe(0);
    const wat = join(cwd, 'broken-wat', 'add.wat');
    await writeFile(wat, (await readFile(wat, 'utf8')).replace('(i32.add', '(i32.add oops'));
    const w = await ipvm('build', 'broken-wat');
    expect(w.code).toBe(1);
    expect(w.stderr).toMatch(/add\.wat:5:\d+: error/);
  }, 60_000);

  it('a folder without ipvm-build.json is named, exit 1', async () => {
    const r = await ipvm('build', 'nowhere');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(join('nowhere', 'ipvm-build.json'));
    expect(r.stderr).toContain('ipvm init --lang');
  });

  it('refuses a name that is not a WIT identifier, and an unknown language (exit 2)', async () => {
    expect((await ipvm('init', '--lang', 'as', 'My_Project')).code).toBe(2);
    expect((await ipvm('init', '--lang', 'cobol', 'x')).code).toBe(2);
  });
});

const JS = process.env.IPVM_TEST_JS_COMPONENTIZE === '1';
describe.skipIf(!JS)('ipvm init --lang js (set IPVM_TEST_JS_COMPONENTIZE=1)', () => {
  it('JavaScript: init, build --add (jco componentize), run', async () => {
    await initBuildRun('js', 'demo-js', JS_LIMITS);
  }, 120_000);
});
if (!JS)
  console.log(
    'byol: --lang js skipped: run it with npm run test:byol-js (jco componentize takes ~10 s)',
  );
