// A workflow's receipts reach subscribers in the order the node computed them, also when the
// appends under them become durable in another order: here signing, which runs on the thread
// pool, finishes the later receipt first (as it can on a busy machine).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAuthority } from '../../processors/auth/index.ts';
import { generateIdentity } from '../../processors/auth/identity.ts';
import type { Authority } from '../../processors/auth/types.ts';
import { createNode } from '../../processors/engine/node.ts';
import { createFileLog } from '../../streams/file/index.ts';
import { createCoreRunner } from '../harness/core-runner.ts';
import { addOneTask } from '../conformance/engine.suite.ts';
import { parseWorkflow } from '../../schemas/model.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-announce-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('receipts to subscribers', () => {
  it('come in the order they were computed when a later one is durable first', async () => {
    const real = createAuthority({ identity: generateIdentity(), mode: 'open' });
    // The replayed receipt (computed first, when the submission is folded) is signed slowly.
    const authority: Authority = {
      ...real,
      sign: async (event) => {
        if (event.replayed) await new Promise((resolve) => setTimeout(resolve, 50));
        return real.sign(event);
      },
    };
    const log = createFileLog({ dir: join(dir, 'log'), fsync: 'none' });
    const runner = await createCoreRunner();
    const node = await createNode({ log, runner, authority, nodeId: 'n' });
    try {
      const first = parseWorkflow({ tasks: [addOneTask(runner.rsc, 1)] });
      await node.submit(first);
      await node.ended(first.cid);
      // add_one(1) is memoized (a replayed receipt for this workflow); add_one(7) runs.
      const second = parseWorkflow({
        tasks: [addOneTask(runner.rsc, 1), addOneTask(runner.rsc, 7)],
      });
      const seen: string[] = [];
      const sub = node.receipts(second.cid).subscribe((r) => {
        seen.push(`${JSON.stringify(r.body.out[1])}${r.replayed ? ' (replayed)' : ''}`);
      });
      await node.submit(second);
      await node.ended(second.cid);
      sub.unsubscribe();
      expect(seen).toEqual(['2 (replayed)', '8']);
    } finally {
      await node.close();
      await log.close();
    }
  });
});
