// Crash safety: SIGKILL the node at random moments while a 1 000-task workflow runs; after
// each restart the node must resume, and in the end every task must have exactly one receipt
// CID — the same as in an uninterrupted run — with nothing lost.
// IPVM_CRASH_KILLS sets the number of kills (default 50; `npm run crash-test` uses 1 000).
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { createTopology } from '../../streams/topology.ts';
import { decodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import { dagJson } from '../../schemas/codecs.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { createCoreRunner, engineModule } from '../harness/core-runner.ts';

const KILLS = Number(process.env.IPVM_CRASH_KILLS ?? 50);
const CHILD = join(import.meta.dirname, 'crash-child.ts');
let wasmFile = '';

/** 1 000 tasks in 10 interleaved chains of 100: task i awaits task i - 10. */
function workflow(rsc: string): IpldValue {
  const tasks: IpldValue[] = [];
  const cids: IpldValue[] = [];
  for (let i = 0; i < 1000; i++) {
    const arg = i < 10 ? i * 1000 : { 'await/ok': cids[i - 10]! };
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

function runChild(
  dir: string,
  file: string,
  killAfterMs: number | null,
): Promise<'end' | 'killed'> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, file, wasmFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (killAfterMs !== null && timer === undefined && out.includes('UP')) {
        timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve('killed');
      else if (code === 0 && out.includes('END workflow/completed')) resolve('end');
      else reject(new Error(`child exited ${code} ${signal}: ${out}\n${err}`));
    });
  });
}

async function receiptsByInstruction(dir: string): Promise<Map<string, Set<string>>> {
  await using log = createFileLog({ dir, readOnly: true });
  const topology = createTopology();
  const map = new Map<string, Set<string>>();
  for await (const r of log.read(topology.name('pure'))) {
    const e = decodeEvent(r.value) as ReceiptEvent;
    const set = map.get(e.instruction.toString()) ?? new Set();
    set.add(e.receipt.toString());
    map.set(e.instruction.toString(), set);
  }
  return map;
}

describe('engine crash safety (SIGKILL)', () => {
  let base: string;
  let file: string;
  let parsedCids: string[];
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'ipvm-crash-'));
    const wasm = await engineModule();
    wasmFile = join(base, 'engine.wasm');
    await writeFile(wasmFile, wasm);
    const runner = await createCoreRunner(wasm);
    const wf = workflow(runner.rsc);
    parsedCids = parseWorkflow(wf).tasks.map((t) => t.instruction.toString());
    file = join(base, 'workflow.json');
    await writeFile(file, dagJson.encode(wf));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it(`loses nothing across ${KILLS} kills and matches an uninterrupted run`, async () => {
    const clean = join(base, 'clean');
    expect(await runChild(clean, file, null)).toBe('end');
    const expected = await receiptsByInstruction(clean);

    const crashed = join(base, 'crashed');
    let kills = 0;
    let ended = false;
    // Kill early and often: the first kills land during start-up and recovery, later ones
    // mid-run. Each run gets a random life between 5 and 150 ms after it is up.
    while (kills < KILLS) {
      const outcome = await runChild(crashed, file, 5 + Math.random() * 145);
      if (outcome === 'killed') kills++;
      else {
        ended = true;
        break;
      }
    }
    if (!ended) expect(await runChild(crashed, file, null)).toBe('end');
    const got = await receiptsByInstruction(crashed);

    expect(got.size).toBe(1000);
    for (const cid of parsedCids) {
      expect(got.get(cid)?.size, `receipts of ${cid}`).toBe(1);
      expect([...got.get(cid)!]).toEqual([...expected.get(cid)!]);
    }
    expect(kills).toBeGreaterThan(0);
  }, 600_000);
});
