// `ipvm inspect FILE|-` as a real process: the Node running vitest (process.execPath) runs
// cli/bin.js, so stdout, stderr, exit codes and standard input are the ones a user sees.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, it, type ExpectStatic } from 'vitest';
import { cidOf, dagCbor, dagJson, parseWorkflow, type IpldMap } from '../../schemas/index.ts';

const BIN = fileURLToPath(new URL('../../cli/bin.js', import.meta.url));
const WASM = 'ipfs://bafybeibk42jwhq7w2zcpe6q3wgtleugp3ymfs3pa5gerjmnakqihhqx4zq';
const ADD_ONE_CID = 'bafyrmialnbzgwscjrq7sa3kdnw2roqdrdzp7xh2tvmo37qmgvarwrhcgre';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function inspect(arg: string, stdin?: Uint8Array | string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'inspect', arg], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    child.stdin.end(stdin ?? '');
  });
}

interface InspectJson {
  workflow: string;
  tasks: Array<{
    index: number;
    instruction: string;
    task: string;
    invocation: string;
    awaits: string[];
  }>;
}

const meta = { fuel: 0, memory: 4294967296, time: 100000 };
const first: IpldMap = {
  rsc: WASM,
  op: 'wasm/run',
  input: { func: 'add_one', args: [1] },
  nnc: '',
};
const second: IpldMap = {
  rsc: WASM,
  op: 'wasm/run',
  input: { func: 'add_one', args: [{ 'await/ok': cidOf(first) }] },
  nnc: '',
};
const outside = cidOf('an instruction elsewhere');
const third: IpldMap = {
  rsc: WASM,
  op: 'wasm/run',
  input: { func: 'add', args: [{ 'await/ok': cidOf(second) }, { 'await/*': outside }] },
  nnc: '',
};
const WORKFLOW = {
  tasks: [first, second, third].map((run) => ({ cause: null, meta, prf: [], run })),
};
/** Homestar's add-one workflow, whose CID Homestar's tests assert (fuel above u64 is a float). */
const ADD_ONE_JSON = `{"tasks":[{"cause":null,"meta":{"fuel":18446744073709552000,"memory":4294967296,"time":100000},"prf":[],"run":{"input":{"args":[1],"func":"add_one"},"nnc":"","op":"wasm/run","rsc":"${WASM}"}},{"cause":null,"meta":{"fuel":18446744073709552000,"memory":4294967296,"time":100000},"prf":[],"run":{"input":{"args":[{"await/ok":{"/":"bafyrmihmxmsbt4n3g6dzmj7rho34mzfbaoqqbsfcq7etsogslqftbyj7du"}}],"func":"add_one"},"nnc":"","op":"wasm/run","rsc":"${WASM}"}}]}`;

/** The output contract: {workflow, tasks: [{index, instruction, task, invocation, awaits}]}, extra keys allowed. */
function expectContract(
  expect: ExpectStatic,
  stdout: string,
  expected: ReturnType<typeof parseWorkflow>,
): InspectJson {
  const json = JSON.parse(stdout) as InspectJson;
  expect(json.workflow).toBe(expected.cid.toString());
  expect(json.tasks).toHaveLength(expected.tasks.length);
  expected.tasks.forEach((t, i) => {
    expect(json.tasks[i]).toMatchObject({
      index: t.index,
      instruction: t.instruction.toString(),
      task: t.taskCid.toString(),
      invocation: t.invocation.toString(),
      awaits: t.awaits.map((a) => a.instruction.toString()),
    });
  });
  return json;
}

// Concurrent: each case waits on its own process start-up, which is most of its time.
describe('ipvm inspect (spawned)', { timeout: 60_000, concurrent: true }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipvm-inspect-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: Uint8Array | string): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  it('prints the CIDs of a DAG-JSON file as JSON', async ({ expect }) => {
    const run = await inspect(file('wf.json', dagJson.stringify(WORKFLOW)));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const json = expectContract(expect, run.stdout, parseWorkflow(WORKFLOW));
    expect(json.tasks[1]!.awaits).toEqual([cidOf(first).toString()]);
    expect(json.tasks[2]!.awaits).toEqual([cidOf(second).toString(), outside.toString()]);
  });

  it("reproduces Homestar's add-one workflow CID", async ({ expect }) => {
    const run = await inspect(file('add-one.json', ADD_ONE_JSON));
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as InspectJson).workflow).toBe(ADD_ONE_CID);
  });

  it('reads DAG-CBOR from standard input with -', async ({ expect }) => {
    const run = await inspect('-', dagCbor.encode({ name: 'piped', workflow: WORKFLOW }));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const json = expectContract(expect, run.stdout, parseWorkflow(WORKFLOW));
    expect(json).toMatchObject({ name: 'piped' });
  });

  it('reads DAG-JSON from standard input with -', async ({ expect }) => {
    const run = await inspect('-', ADD_ONE_JSON);
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as InspectJson).workflow).toBe(ADD_ONE_CID);
  });

  it('exits non-zero with the located error on stderr for a bad field', async ({ expect }) => {
    const bad = {
      tasks: [WORKFLOW.tasks[0], { ...WORKFLOW.tasks[1], run: { ...second, rsc: 'ipfs://nope' } }],
    };
    const run = await inspect(file('bad.json', dagJson.stringify(bad)));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(
      /^ipvm: SchemaError: tasks\[1\]\.run\.rsc: not a CID after ipfs:\/\//,
    );
  });

  it('exits non-zero with the byte offset on stderr for broken bytes on stdin', async ({
    expect,
  }) => {
    const bytes = dagCbor.encode(WORKFLOW);
    const run = await inspect('-', bytes.subarray(0, 100));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^ipvm: DecodeError: dag-cbor at byte \d+: /);
  });

  it('exits non-zero for bad JSON, a duplicate instruction, and a missing file', async ({
    expect,
  }) => {
    const twice = { tasks: [WORKFLOW.tasks[0], WORKFLOW.tasks[0]] };
    const [json, dup, missing] = await Promise.all([
      inspect(file('broken.json', '{"tasks": [1,]}')),
      inspect(file('dup.json', dagJson.stringify(twice))),
      inspect(join(dir, 'does-not-exist.json')),
    ]);
    expect(json.code).toBe(1);
    expect(json.stderr).toMatch(/^ipvm: DecodeError: dag-json at byte \d+: /);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/^ipvm: WorkflowError: tasks\[1\]: duplicate instruction bafyrmi/);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/does-not-exist\.json/);
  });

  const fixture = fileURLToPath(
    new URL(
      '../../../shared/fixtures/homestar/workflows/test-workflow-image-pipeline.cbor',
      import.meta.url,
    ),
  );
  it.skipIf(!existsSync(fixture))(
    'inspects the .cbor fixture when ../shared/fixtures is present',
    async ({ expect }) => {
      const run = await inspect(fixture);
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({
        workflow: 'bafyrmiatb7idqtty56hy3hrfa6ur6qkspyrhaf6n6ynmqsntjvym47mbrq',
        name: 'test',
      });
    },
  );
});
