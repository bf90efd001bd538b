// The executor's consumer of `invocations` reads every record of the stream, most of them not
// its own in a cluster: it decodes only the task/ready records, and knows the others by their
// routing headers (as recovery does), not by decoding their bodies once more.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createNode } from '../../processors/engine/node.ts';
import { eventRecord } from '../../processors/engine/envelope.ts';
import { createFileLog } from '../../streams/file/index.ts';
import { forwardLog } from '../../streams/forward.ts';
import type { LogRecord } from '../../streams/log.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { NodeEvent } from '../../schemas/events.ts';
import { createCoreRunner } from '../harness/core-runner.ts';

describe("the executor's consumer", () => {
  it("does not decode another writer's submission: its routing header says what it is", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ipvm-executor-'));
    const file = createFileLog({ dir });
    // The consumer's records of `invocations` (the executor's), each counting reads of its bytes.
    const valueReads = new Map<number, number>();
    const log = forwardLog(file, {
      consume: (stream, options) =>
        (async function* () {
          for await (const record of file.consume(stream, options)) {
            if (stream !== 'ipvm.invocations') {
              yield record;
              continue;
            }
            const { value, ...rest } = record;
            yield {
              ...rest,
              get value() {
                valueReads.set(record.offset, (valueReads.get(record.offset) ?? 0) + 1);
                return value;
              },
            } satisfies LogRecord;
          }
        })(),
    });
    const runner = await createCoreRunner();
    const node = await createNode({ log, runner });
    try {
      const parsed = parseWorkflow({
        tasks: [
          {
            run: {
              rsc: runner.rsc,
              op: 'wasm/run',
              input: { func: 'add_one', args: [6] },
              nnc: '',
            },
            meta: {},
            prf: [],
            cause: null,
          },
        ],
      });
      // Written as another node writes it: the event envelope with its routing headers.
      const event = {
        type: 'workflow/submitted',
        workflow: parsed.cid,
        body: parsed.workflow,
        name: 'elsewhere',
        at: Date.now(),
      } as NodeEvent;
      const ended = node.ended(parsed.cid);
      const [at] = await file.append('ipvm.invocations', [
        eventRecord(parsed.cid.toString(), event),
      ]);
      expect((await ended).type).toBe('workflow/completed');
      // The executor has read it once its committed position is past it (commits every 50 ms).
      await vi.waitFor(
        async () =>
          expect((await log.committed('executor', 'ipvm.invocations'))[0]).toBeGreaterThan(
            at!.offset,
          ),
        { timeout: 10_000 },
      );
      expect(valueReads.get(at!.offset) ?? 0).toBe(0);
    } finally {
      await node.close();
      await file.close();
      await rm(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
