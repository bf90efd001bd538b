// The producer examples as a user runs them: a real broker (Kafka, NATS JetStream), `ipvm start`
// on it, then `node examples/producers/<broker>.ts WORKFLOW`: the workflow file goes to
// `<ns>.invocations` as it is, the node computes the CIDs and runs it, and the example's
// subscriber prints every receipt's output and the end; a malformed message comes back to the
// example (and to `ipvm watch`) as a visible rejection with its located reason. `ipvm sql` with
// the same backend flags reads the broker's log into its own tables.
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKafka, startNats, startOrSkip } from '../harness/servers.ts';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'cli', 'bin.js');
const base = await mkdtemp(join(tmpdir(), 'ipvm-producers-'));
const built = join(base, 'built');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function node(args: string[], timeout = 60_000): Promise<Result> {
  try {
    const { stdout, stderr } = await exec(process.execPath, args, { cwd: root, timeout });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as Result;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** `ipvm start` on the broker, on a copy of the data directory with the example Wasm. */
async function startNode(name: string, backend: string[]): Promise<() => Promise<void>> {
  const dir = join(base, name);
  await cp(built, dir, { recursive: true });
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [bin, 'start', '--data-dir', dir, '--log-level', 'warn', ...backend],
    { cwd: root },
  );
  let out = '';
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node not ready: ${out}`)), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`ipvm start exited ${code}: ${out}`)));
  });
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
}

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** add-one.json: add_one(1) = 2, add_one(2) = 3, add(3, 10) = 13, under the CID `ipvm run` prints. */
const ADD_ONE_CID = 'bafyrmigni2dqkwcbfhcxilc4qptnhhigsbfybl7dnqfaweq3wqlbmurtzu';

/**
 * Every output once, then the end. Receipts are keyed by instruction CID, so one workflow's
 * receipts spread over `<ns>.pure`'s partitions and a subscriber reads them in no fixed order
 * (a chain's steps often land in one append, in different partitions): the outputs are compared
 * as a set.
 */
function expectAddOne(r: Result): void {
  expect(r.code, r.stderr + r.stdout).toBe(0);
  const lines = r.stdout.split('\n');
  const outputs = lines.filter((l) => l.startsWith('ok ')).map((l) => l.split('  (')[0]);
  expect(outputs.toSorted()).toEqual(['ok add → 13', 'ok add_one → 2', 'ok add_one → 3']);
  const end = lines.findIndex((l) => l === `completed ${ADD_ONE_CID}`);
  expect(end, r.stdout).toBeGreaterThan(lines.findLastIndex((l) => l.startsWith('ok ')));
}

function expectRejected(r: Result): void {
  expect(r.code).toBe(1);
  expect(r.stdout).toContain('rejected: tasks[0].run: expected a map, got integer\n');
}

// Both brokers start together with the example Wasm's build (Kafka's start-up is most of this
// file's time).
const [kafka, nats] = await Promise.all([
  startOrSkip('Kafka', startKafka),
  startOrSkip('NATS', startNats),
  exec(process.execPath, [join(root, 'examples', 'build.ts'), '--data-dir', built], { cwd: root }),
  // Not a workflow: `tasks[0].run` must be a map. The node names the field in its rejection.
  writeFile(join(base, 'malformed.json'), '{"tasks":[{"run":5,"meta":{},"prf":[]}]}'),
]);
const cases = [
  { name: 'kafka', server: kafka, flags: kafka && ['--brokers', kafka.brokers.join(',')] },
  { name: 'nats', server: nats, flags: nats && ['--nats-url', nats.url] },
].map((c) => ({ ...c, ns: `prod${c.name}${Date.now().toString(36)}` }));
const stops: Array<Promise<() => Promise<void>>> = [];

beforeAll(async () => {
  for (const c of cases) {
    if (c.flags === undefined) continue;
    const backend = ['--backend', c.name, ...c.flags, '--namespace', c.ns];
    stops.push(startNode(c.name, backend));
  }
  await Promise.all(stops);
}, 120_000);

afterAll(async () => {
  await Promise.all(stops.map(async (stop) => (await stop.catch(() => undefined))?.()));
  await Promise.all([kafka?.stop(), nats?.stop()]);
});

for (const c of cases) {
  describe.skipIf(c.flags === undefined)(`examples/producers/${c.name}.ts`, () => {
    const example = (file: string): Promise<Result> =>
      node([
        join(root, 'examples', 'producers', `${c.name}.ts`),
        file,
        ...c.flags!,
        '--namespace',
        c.ns,
      ]);

    it('runs add-one.json and prints every output, then the end', async () => {
      expectAddOne(await example(join(root, 'examples', 'workflows', 'add-one.json')));
    }, 60_000);

    it('shows the rejection of a malformed message', async () => {
      const sent = await example(join(base, 'malformed.json'));
      expectRejected(sent);
      // `ipvm watch` beside the node shows it too, under the producer's key
      const key = /key ([\w-]+)\)/.exec(sent.stdout)?.[1];
      expect(key, sent.stdout).toBeDefined();
      const watch = await node([
        bin,
        'watch',
        '--from',
        'earliest',
        '--no-follow',
        '--data-dir',
        join(base, c.name),
      ]);
      expect(watch.code, watch.stderr).toBe(0);
      expect(watch.stdout).toMatch(
        new RegExp(
          `^REJECTED ${key} ${c.ns}\\.invocations/\\d+@\\d+: tasks\\[0\\]\\.run: expected a map, got integer$`,
          'm',
        ),
      );
    }, 60_000);

    it('ipvm sql on the same backend indexes its log into fresh embedded tables', async () => {
      const q =
        'SELECT function, output, fuel FROM receipts WHERE replayed = 0 ORDER BY function, output';
      // On Kafka each stream and partition with records is read through a throwaway consumer
      // group (a join, then a seek), and the positions are committed by joining the tables'.
      const sql = (dir: string): Promise<Result> =>
        node(
          [
            bin,
            'sql',
            '--format',
            'json',
            '--backend',
            c.name,
            ...c.flags!,
            '--namespace',
            c.ns,
            '--data-dir',
            join(base, dir),
            q,
          ],
          150_000,
        );
      // A second data directory's tables see everything too: the positions the first one
      // committed on the broker are its own.
      for (const dir of [`${c.name}-sql`, `${c.name}-sql-2`]) {
        const res = await sql(dir);
        expect(res.code, res.stderr).toBe(0);
        expect(JSON.parse(res.stdout), dir).toEqual([
          { function: 'add', output: '13', fuel: 3 },
          { function: 'add_one', output: '2', fuel: 3 },
          { function: 'add_one', output: '3', fuel: 3 },
        ]);
      }
    }, 300_000);
  });
}
