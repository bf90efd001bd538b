// Fuzzing the three doors bad input comes through: the workflow parser (what `ipvm run` reads),
// the JSON-RPC handler, and the recovery path (records written while no node ran). Random and
// mutated inputs must never crash or hang anything: each is answered with a located error or
// dead-lettered. Seeded: IPVM_FUZZ_SEED reproduces a run; the seed is printed either way.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { createTopology } from '../../streams/topology.ts';
import { createNode, type IpvmNode } from '../../processors/engine/node.ts';
import { createRpcHandler } from '../../processors/api/index.ts';
import { deadLetterInfo } from '../../streams/dead-letter.ts';
import { dagCbor, dagJson } from '../../schemas/codecs.ts';
import { FormatError } from '../../schemas/errors.ts';
import { decodeEvent, encodeEvent } from '../../schemas/events.ts';
import { parseTask, parseWorkflow } from '../../schemas/model.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';
import { chain } from '../conformance/engine.suite.ts';

const given = process.env.IPVM_FUZZ_SEED;
const SEED = given === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(given);
console.log(`fuzz seed ${SEED} (IPVM_FUZZ_SEED=${SEED} reproduces this run)`);
const RUNS = Number(process.env.IPVM_FUZZ_RUNS ?? 150);

/** Byte-level mutations of a valid input: flips, truncation, insertion, splicing. */
function mutated(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  const at = fc.nat({ max: Math.max(0, base.length - 1) });
  return fc.oneof(
    fc.tuple(at, fc.integer({ min: 0, max: 255 })).map(([i, b]) => {
      const out = base.slice();
      out[i] = b;
      return out;
    }),
    at.map((i) => base.slice(0, i)),
    fc.tuple(at, fc.uint8Array({ minLength: 1, maxLength: 8 })).map(([i, bytes]) => {
      const out = new Uint8Array(base.length + bytes.length);
      out.set(base.subarray(0, i));
      out.set(bytes, i);
      out.set(base.subarray(i), i + bytes.length);
      return out;
    }),
    fc.uint8Array({ maxLength: 64 }),
  );
}

/**
 * A located error: a byte offset, or a field path before the colon — a path under `tasks[i]` may
 * hold any key the input had (a mutated one can contain spaces or control characters).
 */
const LOCATED =
  /(at byte \d+)|(^[\w[\].$/-]*(\[\d+\])?[\w[\].]*: )|(^tasks\[\d+\][^\n]*: )|(^\(root\): )/;

let runner: CoreRunner;
let valid: IpldValue;
beforeAll(async () => {
  runner = await createCoreRunner();
  valid = chain(runner.rsc, 3);
});

describe(`fuzz (seed ${SEED})`, () => {
  it('the workflow parser answers every input with a workflow or a located error', () => {
    const json = new TextEncoder().encode(dagJson.stringify(valid));
    const cbor = dagCbor.encode(valid);
    fc.assert(
      fc.property(fc.oneof(mutated(json), mutated(cbor)), (bytes) => {
        try {
          parseWorkflow(bytes);
        } catch (err) {
          expect(err, String(err)).toBeInstanceOf(Error);
          const e = err as Error & { retryable?: boolean };
          // FormatError (decode, schema) or WorkflowError (cycle, duplicate): terminal, located.
          expect(e.retryable, `${e.name}: ${e.message}`).toBe(false);
          expect(e.message, `${e.name}`).toMatch(LOCATED);
          expect(e.message.length).toBeLessThan(2_000);
          if (!(e instanceof FormatError)) expect(e.name).toBe('WorkflowError');
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  describe('with a node', () => {
    let dir: string;
    let node: IpvmNode;
    let log: ReturnType<typeof createFileLog>;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ipvm-fuzz-'));
      log = createFileLog({ dir });
      node = await createNode({ log, runner, topology: { namespace: 'api' } });
    });
    afterAll(async () => {
      await node.close();
      await log.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('the JSON-RPC handler answers every message, in time, with a result or an error', async () => {
      const rpc = createRpcHandler({ node, maxRequestBytes: 64 * 1024 });
      const request = JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'subscribe_run_workflow',
        params: [{ name: 'fuzz', workflow: JSON.parse(dagJson.stringify(valid)) as unknown }],
      });
      const requestBytes = new TextEncoder().encode(request);
      const texts = fc.oneof(
        mutated(requestBytes).map((b) => new TextDecoder().decode(b)),
        fc.json(),
        fc.string({ maxLength: 200 }),
      );
      await fc.assert(
        fc.asyncProperty(texts, async (text) => {
          const replies: string[] = [];
          await Promise.race([
            rpc.handle(text, { streaming: true, send: (t) => replies.push(t) }),
            new Promise((_r, reject) =>
              setTimeout(() => reject(new Error(`no answer within 5 s to ${text}`)), 5_000),
            ),
          ]);
          for (const reply of replies) {
            const parsed = JSON.parse(reply) as unknown;
            const list = Array.isArray(parsed) ? parsed : [parsed];
            for (const m of list as Array<Record<string, unknown>>) {
              expect(m.jsonrpc).toBe('2.0');
              if ('error' in m) {
                const e = m.error as { code: unknown; message: unknown };
                expect(typeof e.code).toBe('number');
                expect(String(e.message)).not.toMatch(/Maximum call stack|undefined is not/);
              }
            }
          }
        }),
        { seed: SEED, numRuns: RUNS },
      );
      rpc.close();
    }, 120_000);

    it('recovery dead-letters every bad record once and starts anyway', async () => {
      const topology = createTopology({ namespace: 'recovery' });
      await log.ensureStreams(topology.streams);
      const one = (chain(runner.rsc, 1, 9) as { tasks: IpldValue[] }).tasks[0]!;
      const submitted = encodeEvent({
        type: 'workflow/submitted',
        workflow: parseWorkflow({ tasks: [one] }).cid,
        body: { tasks: [parseTask(one)] },
        name: null,
        at: 0,
      });
      const records = fc.sample(mutated(submitted), { seed: SEED, numRuns: 60 });
      const placed = {
        invocations: await log.append(
          topology.name('invocations'),
          records.map((value, i) => ({ key: `k${i}`, value })),
        ),
        pure: await log.append(
          topology.name('pure'),
          records.slice(0, 20).map((value, i) => ({ key: `r${i}`, value })),
        ),
      };
      /** Bad: does not decode as an event, or is a submission the scheduler cannot take. */
      const bad = (value: Uint8Array, stream: string): boolean => {
        try {
          const e = decodeEvent(value);
          if (stream === 'pure') return false; // decodes: the memo ignores what is no receipt
          if (e.type === 'workflow/submitted') parseWorkflow(e.body as unknown as IpldValue);
          return false;
        } catch {
          return true;
        }
      };
      const expected = new Set<string>();
      for (const stream of ['invocations', 'pure'] as const) {
        placed[stream].forEach((at, i) => {
          if (bad(records[i]!, stream))
            expected.add(`${topology.name(stream)}/${at.partition}/${at.offset}`);
        });
      }
      for (let start = 0; start < 2; start++) {
        const n = await createNode({
          log,
          runner,
          topology,
          execute: false,
          workflowTimeoutMs: 1_000,
        });
        await n.close();
      }
      const letters: string[] = [];
      for await (const r of log.read(topology.name('dead-letter'))) {
        const info = deadLetterInfo(r)!;
        expect(info.reason).toMatch(LOCATED);
        letters.push(`${info.stream}/${info.partition}/${info.offset}`);
      }
      // Once each, across two starts.
      expect(new Set(letters).size).toBe(letters.length);
      expect(new Set(letters)).toEqual(expected);
    }, 120_000);
  });
});
