// Crash safety of managed effects: SIGKILL the node at seeded random moments (after a random
// number of requests reached the server, sometimes before the server answers) while a workflow
// of 200 POSTs runs. After recovery every key reached the server, no key with two different
// bodies, and exactly one outcome per key on effects.managed.
// IPVM_EFFECTS_CRASH_KILLS (default 2) sets the kills; IPVM_EFFECTS_CRASH_SEED replays a run.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { dagJson } from '../../schemas/codecs.ts';
import { decodeEvent } from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { idempotencyKey } from '../../processors/effects/index.ts';
import { startTestServer, type TestServer } from './server.ts';
import { seededRandom } from '../harness/random.ts';

const KILLS = Number(process.env.IPVM_EFFECTS_CRASH_KILLS ?? 2);
const SEED = Number(process.env.IPVM_EFFECTS_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
const TASKS = 200;
const CHILD = join(import.meta.dirname, 'crash-child.ts');

describe('effects crash safety', () => {
  let server: TestServer;
  let base: string;
  beforeAll(async () => {
    server = await startTestServer();
    base = await mkdtemp(join(tmpdir(), 'ipvm-fx-crash-'));
  });
  afterAll(async () => {
    await server.close();
    await rm(base, { recursive: true, force: true });
  });

  it(`sends each of ${TASKS} POSTs with one body per key and records one outcome each, across ${KILLS} kills`, async () => {
    console.log(`effects crash test seed ${SEED} (IPVM_EFFECTS_CRASH_SEED=${SEED} to replay)`);
    const random = seededRandom(SEED);
    const tasks: IpldValue[] = Array.from({ length: TASKS }, (_, i) => ({
      run: {
        rsc: `${server.base}/items/${i}`,
        op: 'http/post',
        input: { body: { i } },
        nnc: '',
      },
      cause: null,
      meta: {},
      prf: [],
    }));
    const parsed = parseWorkflow({ tasks });
    const workflow = join(base, 'workflow.json');
    await writeFile(workflow, dagJson.encode({ tasks }));
    const dir = join(base, 'log');
    const allow = `127.0.0.1:${server.port}`;

    const runChild = (killAtRequest: number | null): Promise<'end' | 'killed'> =>
      new Promise((resolve, reject) => {
        const child: ChildProcess = spawn(process.execPath, [CHILD, dir, workflow, allow], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        let err = '';
        let requests = 0;
        const kill = () => child.kill('SIGKILL');
        server.onRequest =
          killAtRequest === null
            ? undefined
            : () => {
                if (++requests !== killAtRequest) return;
                // Half the time before the server answers (intent without outcome), else soon after.
                if (random() < 0.5) kill();
                else setTimeout(kill, Math.floor(random() * 20));
              };
        child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code, signal) => {
          server.onRequest = undefined;
          if (signal === 'SIGKILL') resolve('killed');
          else if (code === 0 && out.includes('END workflow/completed')) resolve('end');
          else reject(new Error(`child exited ${code} ${signal}: ${out}\n${err}`));
        });
      });

    let killed = 0;
    let ended = false;
    while (killed < KILLS && !ended) {
      const outcome = await runChild(1 + Math.floor(random() * (TASKS / (KILLS + 1))));
      if (outcome === 'killed') killed++;
      else ended = true;
    }
    if (!ended) expect(await runChild(null)).toBe('end');
    expect(killed, 'a crash test that killed nothing has failed').toBeGreaterThan(0);

    const log = createFileLog({ dir, readOnly: true });
    const outcomes = new Map<string, number>();
    const intents = new Map<string, number>();
    try {
      for await (const r of log.read('ipvm.effects.managed')) {
        const e = decodeEvent(r.value);
        const map = e.type === 'receipt' ? outcomes : e.type === 'effect/intent' ? intents : null;
        const k = (e as { instruction: { toString(): string } }).instruction.toString();
        map?.set(k, (map.get(k) ?? 0) + 1);
      }
    } finally {
      await log.close();
    }
    const resent = server.seen.length - new Set(server.seen.map((s) => s.key)).size;
    console.log(
      `${killed} kills, ${server.seen.length} requests for ${TASKS} keys (${resent} re-sent)`,
    );
    for (const t of parsed.tasks) {
      const instr = t.instruction.toString();
      const key = idempotencyKey(t.instruction, '');
      expect(server.applied.get(key), `key of task ${t.index}`).toEqual([
        JSON.stringify({ i: t.index }),
      ]);
      expect(outcomes.get(instr), `outcomes of task ${t.index}`).toBe(1);
      expect(intents.get(instr), `intents of task ${t.index}`).toBe(1);
    }
  }, 600_000);
});
