// `ipvm start --bid-window MS`, `--heap-growth PERCENT` and `--young-generation MIB` as a user
// gives them — on the command line, in the environment or in ipvm.config.json: a value out of
// its range is a usage error (exit 2) naming the flag, the value and where it came from, before
// anything opens.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { root } from './ipvm-start.ts';

const exec = promisify(execFile);
let cwd: string;

/**
 * This process's environment without IPVM_* variables and without the ones `ipvm start` adds
 * to its own process (long-lived-process.ts), plus `env`.
 */
function envWith(env: Record<string, string>): NodeJS.ProcessEnv {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !k.startsWith('IPVM_') && k !== 'MALLOC_ARENA_MAX' && k !== 'NODE_OPTIONS',
    ),
  );
  return { ...clean, ...env };
}

async function start(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stderr: string }> {
  try {
    await exec(
      process.execPath,
      [join(root, 'cli', 'bin.js'), 'start', '--data-dir', join(cwd, 'data'), ...args],
      { cwd, env: envWith(env), timeout: 60_000 },
    );
    return { code: 0, stderr: '' };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'ipvm-start-options-'));
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

/**
 * Each value is refused (exit 2) with `rule` and where it came from: the command line, `env`
 * and the config file (`config`, written for the check, and left in place with `keepConfig`).
 */
async function expectRefusals(o: {
  flag: string;
  rule: string;
  bad: string[];
  env: [name: string, value: string];
  config: Record<string, unknown>;
  keepConfig?: boolean;
}): Promise<(got: string) => RegExp> {
  const config = join(cwd, 'ipvm.config.json');
  await rm(config, { force: true });
  const message = (got: string): RegExp => new RegExp(`${o.rule} \\(got ${got}\\)`);
  for (const bad of o.bad) {
    const res = await start([o.flag, bad]);
    expect(res.code, bad).toBe(2);
    expect(res.stderr, bad).toMatch(message(JSON.stringify(bad)));
  }
  const [name, value] = o.env;
  const fromEnv = await start([], { [name]: value });
  expect(fromEnv.code).toBe(2);
  expect(fromEnv.stderr).toMatch(message(`${JSON.stringify(value)} from ${name}`));
  await writeFile(config, JSON.stringify(o.config));
  const fromFile = await start([]);
  expect(fromFile.code).toBe(2);
  const [configValue] = Object.values(o.config);
  expect(fromFile.stderr).toMatch(message(`"${String(configValue)}" from the config file`));
  if (o.keepConfig !== true) await rm(config);
  return message;
}

describe('ipvm start --bid-window', () => {
  it('refuses what is not a whole number of milliseconds ≥ 1, saying where it came from', async () => {
    const message = await expectRefusals({
      flag: '--bid-window',
      rule: '--bid-window must be a whole number of milliseconds, at least 1',
      bad: ['0', '-5', '1.5', 'soon', ''],
      env: ['IPVM_BID_WINDOW', '2s'],
      config: { 'bid-window': 0 },
      keepConfig: true,
    });
    // The command line wins over the file (and a good value goes through to the node: see
    // placement-start.int.test.ts); nothing was opened by the refused starts.
    const fromFlag = await start(['--bid-window', 'x']);
    expect(fromFlag.stderr).toMatch(message('"x"'));
    expect(await readdir(cwd)).toEqual(['ipvm.config.json']);
  }, 120_000);
});

/**
 * Starts a node without an API until it is ready, stops it, and returns what it logged (`pid`:
 * the process spawned, when asked for).
 */
async function startAndStop(
  args: string[],
  env: Record<string, string> = {},
  pid?: (pid: number) => void,
): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      join(root, 'cli', 'bin.js'),
      'start',
      '--data-dir',
      join(cwd, 'node'),
      '--rpc-port',
      'off',
      ...args,
    ],
    { cwd, env: envWith(env) },
  );
  pid?.(child.pid!);
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`ipvm start exited ${code}: ${err}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
  return err;
}

interface Started {
  msg?: string;
  pid?: number;
  heapGrowth?: unknown;
  youngGeneration?: unknown;
  mallocArenas?: unknown;
}

/** The node's "node started" log line. */
function startedLine(logged: string): Started | undefined {
  return logged
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Started)
    .find((l) => l.msg === 'node started');
}

/** The `heapGrowth` of the node's "node started" log line. */
function announced(logged: string): unknown {
  return startedLine(logged)?.heapGrowth;
}

describe('ipvm start --heap-growth', () => {
  it('refuses anything but 0 or a whole percent from 10 to 1000, saying where it came from', async () => {
    await expectRefusals({
      flag: '--heap-growth',
      rule: "--heap-growth must be a whole percent from 10 to 1000, or 0 for V8's own choice",
      bad: ['5', '1001', '-100', '1.5', 'half'],
      env: ['IPVM_HEAP_GROWTH', '2x'],
      config: { heapGrowth: 9 },
    });
  }, 120_000);

  it('runs the node with the growth given, 67 unless told (heap-growth.test.ts: what V8 does with it)', async () => {
    expect(announced(await startAndStop([]))).toBe(67);
    expect(announced(await startAndStop(['--heap-growth', '50']))).toBe(50);
    expect(announced(await startAndStop([], { IPVM_HEAP_GROWTH: '0' }))).toBe(0);
  }, 120_000);
});

describe('ipvm start --young-generation', () => {
  it('refuses anything but 0 or an even number of MiB from 2 to 256, saying where it came from', async () => {
    await expectRefusals({
      flag: '--young-generation',
      rule: "--young-generation must be an even number of MiB from 2 to 256 \\(two equal semi-spaces\\), or 0 for V8's own choice",
      bad: ['1', '7', '258', '-16', '1.5', 'big'],
      env: ['IPVM_YOUNG_GENERATION', '16M'],
      config: { youngGeneration: 3 },
    });
  }, 120_000);

  it('re-executes itself in place with the young generation given and shared malloc arenas (long-lived-process.test.ts: what V8 does with it)', async () => {
    let spawned = 0;
    const byDefault = startedLine(await startAndStop([], {}, (p) => (spawned = p)));
    // The same process: the node that logged is the one spawned, not a child of it.
    expect(byDefault?.pid).toBe(spawned);
    expect(byDefault).toMatchObject({ youngGeneration: 16, mallocArenas: '2' });
    const given = startedLine(await startAndStop(['--young-generation', '12']));
    expect(given).toMatchObject({ youngGeneration: 12, mallocArenas: '2' });
    // V8's own, and the operator's own arenas: kept as given.
    const own = startedLine(
      await startAndStop([], { IPVM_YOUNG_GENERATION: '0', MALLOC_ARENA_MAX: '4' }),
    );
    expect(own).toMatchObject({ youngGeneration: 0, mallocArenas: '4' });
    // Node's own flag, given by the operator, is the one that holds.
    const nodeFlag = startedLine(
      await startAndStop([], { NODE_OPTIONS: '--max-semi-space-size=2' }),
    );
    expect(nodeFlag).toMatchObject({ youngGeneration: 4 });
  }, 120_000);
});
