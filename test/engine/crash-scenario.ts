// The crash scenario shared by the per-backend crash tests: SIGKILL a node process after a
// seeded random number of receipts while a workflow runs; after each restart the node must resume, and in
// the end every task must have exactly one receipt CID — the same as in an uninterrupted run.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Log } from '../../streams/log.ts';
import { createTopology } from '../../streams/topology.ts';
import { decodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import { dagJson } from '../../schemas/codecs.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { IpldMap, IpldValue } from '../../schemas/ipld.ts';
import { createCoreRunner, engineModule } from '../harness/core-runner.ts';
import { seededRandom } from '../harness/random.ts';

const CHILD = join(import.meta.dirname, 'crash-child.ts');

/** 1 000 tasks in 10 interleaved chains of 100: task i awaits task i - 10. */
export function crashWorkflow(rsc: string, tasksCount = 1000, chains = 10): IpldValue {
  const tasks: IpldValue[] = [];
  const cids: IpldValue[] = [];
  for (let i = 0; i < tasksCount; i++) {
    const arg = i < chains ? i * 1000 : { 'await/ok': cids[i - chains]! };
    const t: IpldValue = {
      run: { rsc, op: 'wasm/run', input: { func: 'add_one', args: [arg] }, nnc: '' },
      cause: null,
      meta: {},
      prf: [],
    };
    tasks.push(t);
    cids.push(parseWorkflow({ tasks: [t] }).tasks[0]!.instruction);
  }
  return { tasks };
}

interface Files {
  base: string;
  workflow: string;
  wasm: string;
  instructions: string[];
}

export async function prepare(tasksCount = 1000, chains = 10): Promise<Files> {
  const base = await mkdtemp(join(tmpdir(), 'ipvm-crash-'));
  const wasm = await engineModule();
  const wasmFile = join(base, 'engine.wasm');
  await writeFile(wasmFile, wasm);
  const runner = await createCoreRunner(wasm);
  const wf = crashWorkflow(runner.rsc, tasksCount, chains);
  const workflow = join(base, 'workflow.json');
  await writeFile(workflow, dagJson.encode(wf));
  return {
    base,
    workflow,
    wasm: wasmFile,
    instructions: parseWorkflow(wf).tasks.map((t) => t.instruction.toString()),
  };
}

/** A second workflow for the child to run once the first has ended (IPVM_CRASH_THEN). */
export interface ThenFiles {
  workflow: string;
  cid: string;
  /** The first workflow's instructions: replayed from the memo for the second. */
  replayed: string[];
  /** Its own instructions, run. */
  fresh: string[];
}

/**
 * The second workflow: every task of the first under other metadata (the same instructions,
 * so each is a memo hit whose replayed receipt the node writes for it), then `freshCount` new
 * tasks in a chain, which run while those replayed receipts are being written.
 */
export async function prepareThen(files: Files, freshCount: number): Promise<ThenFiles> {
  const first = dagJson.decode(await readFile(files.workflow)) as { tasks: IpldMap[] };
  const rsc = ((first.tasks[0]!.run as IpldMap).rsc as string).toString();
  const again = first.tasks.map((t) => ({ ...t, meta: { again: true } }));
  const fresh: IpldValue[] = [];
  let prev: IpldValue | null = null;
  for (let i = 0; i < freshCount; i++) {
    const t: IpldValue = {
      run: {
        rsc,
        op: 'wasm/run',
        input: { func: 'add_one', args: [prev === null ? 7_000_000 : { 'await/ok': prev }] },
        nnc: 'then',
      },
      cause: null,
      meta: {},
      prf: [],
    };
    fresh.push(t);
    prev = parseWorkflow({ tasks: [t] }).tasks[0]!.instruction;
  }
  const wf = { tasks: [...again, ...fresh] };
  const parsed = parseWorkflow(wf);
  const workflow = join(files.base, 'then.json');
  await writeFile(workflow, dagJson.encode(wf));
  return {
    workflow,
    cid: parsed.cid.toString(),
    replayed: files.instructions,
    fresh: parsed.tasks.slice(again.length).map((t) => t.instruction.toString()),
  };
}

/** The replayed receipts on `invocations` for `workflow`, by instruction. */
async function replayedFor(
  log: Log,
  namespace: string,
  workflow: string,
): Promise<Map<string, string[]>> {
  const topology = createTopology({ namespace });
  const map = new Map<string, string[]>();
  for await (const r of log.read(topology.name('invocations'))) {
    const e = decodeEvent(r.value);
    if (e.type !== 'receipt' || e.workflow?.toString() !== workflow) continue;
    expect(e.replayed).toBe(true);
    const list = map.get(e.instruction.toString()) ?? [];
    list.push(e.receipt.toString());
    map.set(e.instruction.toString(), list);
  }
  return map;
}

export const cleanup = (files: Files): Promise<void> =>
  rm(files.base, { recursive: true, force: true });

/** The seed of this run: `IPVM_CRASH_SEED` reproduces a failure; printed either way. */
export function crashSeed(label: string): number {
  const given = process.env.IPVM_CRASH_SEED;
  const seed = given === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(given);
  console.log(`${label}: crash seed ${seed} (IPVM_CRASH_SEED=${seed} reproduces this run)`);
  return seed;
}

/** Runs a child that kills itself with SIGKILL when its `killAfterReceipts`-th task has run. */
function runChild(
  files: Files,
  where: string,
  killAfterReceipts: number | null,
  env: Record<string, string>,
): Promise<{ outcome: 'end' | 'killed'; receipts: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, where, files.workflow, files.wasm], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ...env,
        ...(killAfterReceipts === null ? {} : { IPVM_CRASH_AFTER: String(killAfterReceipts) }),
      },
    });
    let out = '';
    let err = '';
    let receipts = 0;
    child.stdout.on('data', (d: Buffer) => {
      const text = d.toString();
      for (let i = text.indexOf('R\n'); i !== -1; i = text.indexOf('R\n', i + 2)) receipts++;
      out += text.replaceAll('R\n', '');
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ outcome: 'killed', receipts });
      else if (code === 0 && out.includes('END workflow/completed'))
        resolve({ outcome: 'end', receipts });
      else reject(new Error(`child exited ${code} ${signal}: ${out}\n${err}`));
    });
  });
}

async function receiptsByInstruction(
  log: Log,
  namespace: string,
): Promise<Map<string, Set<string>>> {
  const topology = createTopology({ namespace });
  const map = new Map<string, Set<string>>();
  for await (const r of log.read(topology.name('pure'))) {
    const e = decodeEvent(r.value) as ReceiptEvent;
    const set = map.get(e.instruction.toString()) ?? new Set();
    set.add(e.receipt.toString());
    map.set(e.instruction.toString(), set);
  }
  return map;
}

/** What a backend needs to run the scenario. */
export interface CrashBackend {
  /** Environment for the child (IPVM_TEST_BACKEND and server addresses). */
  env: Record<string, string>;
  /** Where a run keeps its streams: a directory (file) or a namespace (brokers). */
  place(files: Files, hint: string): string;
  /** A log for reading a place back. */
  open(place: string): Log;
  /** The stream namespace of a place. */
  namespace(place: string): string;
  /** Name printed with the seed. */
  label: string;
}

/**
 * Kills a node `kills` times, each after a seeded random number of receipts drawn so that the
 * kills spread over the run and all happen before it can end; then lets it finish. A run that
 * ended before every kill happened has failed (it proved nothing about those kills).
 */
export async function crashScenario(
  files: Files,
  backend: CrashBackend,
  kills: number,
  then?: ThenFiles,
): Promise<void> {
  const random = seededRandom(crashSeed(backend.label));
  const firstOnly = backend.env;
  if (then !== undefined)
    backend = { ...backend, env: { ...backend.env, IPVM_CRASH_THEN: then.workflow } };
  const clean = backend.place(files, 'clean');
  expect((await runChild(files, clean, null, backend.env)).outcome).toBe('end');
  const readBack = async (place: string): Promise<Map<string, Set<string>>> => {
    const log = backend.open(place);
    try {
      return await receiptsByInstruction(log, backend.namespace(place));
    } finally {
      await log.close();
    }
  };
  const crashed = backend.place(files, 'crashed');
  let killed = 0;
  // With a second workflow, the kills land in its run: the first is run to its end before.
  const before = then === undefined ? 0 : files.instructions.length;
  if (then !== undefined)
    expect((await runChild(files, crashed, null, firstOnly)).outcome).toBe('end');
  const total = then === undefined ? files.instructions.length : then.fresh.length;
  while (killed < kills) {
    // Leave room for the kills still to come: at most an equal share of what is left. What is
    // left is read from the log: a pipelined node has durable receipts it had not announced yet.
    const done = killed === 0 ? 0 : (await readBack(crashed)).size - before;
    const share = Math.max(1, Math.floor((total - done) / (kills - killed + 1)));
    const after = 1 + Math.floor(random() * share);
    const life = await runChild(files, crashed, after, backend.env);
    if (life.outcome !== 'killed') break;
    killed++;
  }
  expect(killed, `kills before the workflow ended (seed printed above)`).toBe(kills);
  expect((await runChild(files, crashed, null, backend.env)).outcome).toBe('end');

  const expected = await readBack(clean);
  const got = await readBack(crashed);
  const computed = [...files.instructions, ...(then?.fresh ?? [])];
  expect(got.size).toBe(computed.length);
  for (const cid of computed) {
    expect(got.get(cid)?.size, `receipts of ${cid}`).toBe(1);
    expect([...got.get(cid)!]).toEqual([...expected.get(cid)!]);
  }
  if (then === undefined) return;
  // The second workflow's replayed receipts: one each, none lost, none written twice.
  const replayed = async (place: string): Promise<Map<string, string[]>> => {
    const log = backend.open(place);
    try {
      return await replayedFor(log, backend.namespace(place), then.cid);
    } finally {
      await log.close();
    }
  };
  const linked = await replayed(crashed);
  const cleanLinks = await replayed(clean);
  expect(linked.size).toBe(then.replayed.length);
  for (const cid of then.replayed) {
    expect(linked.get(cid), `replayed receipts of ${cid}`).toHaveLength(1);
    expect(linked.get(cid)).toEqual(cleanLinks.get(cid));
  }
}
