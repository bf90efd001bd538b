// Placement on a node alone: a task naming this node (or needing what it has) runs; one naming
// another node or needing what it lacks is refused at submission with the task's path, and — when
// it reaches the stream another way (a producer) — ends in an `unplaced` error receipt. No hang.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { createNode } from '../../processors/engine/node.ts';
import { createLocalPlacement } from '../../processors/cluster/local-placement.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { SchemaError } from '../../schemas/errors.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { createCoreRunner, type CoreRunner } from '../harness/core-runner.ts';
import { submitWorkflow } from './cluster-scenario.ts';

const ME = 'did:key:z6MkMe';

function task(rsc: string, arg: number, meta: IpldValue): IpldValue {
  return {
    run: { rsc, op: 'wasm/run', input: { func: 'add_one', args: [arg] }, nnc: '' },
    cause: null,
    meta,
    prf: [],
  };
}

describe('placement on a single node', () => {
  let dir: string;
  let runner: CoreRunner;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ipvm-place-'));
    runner = await createCoreRunner();
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const open = async () => {
    const log = createFileLog({ dir });
    const node = await createNode({
      log,
      runner,
      nodeId: ME,
      topology: { namespace: 'p' },
      placement: createLocalPlacement(() => ({
        nodeId: ME,
        effectHosts: ['127.0.0.1:8080'],
        secrets: [],
      })),
    });
    return { log, node };
  };

  it('runs a task that names this node or needs what it has', async () => {
    const { log, node } = await open();
    const wf = {
      tasks: [
        task(runner.rsc, 1, { node: ME }),
        task(runner.rsc, 2, { needs: ['net:127.0.0.1:8080', `module:${runner.rsc.slice(7)}`] }),
      ],
    };
    const parsed = await node.submit(wf);
    const end = await node.ended(parsed.cid);
    expect(end.type).toBe('workflow/completed');
    expect(runner.total).toBe(2);
    await node.close();
    await log.close();
  });

  it('refuses at submission, located, a task for another node or with an unmet need', async () => {
    const { log, node } = await open();
    const cases: Array<[IpldValue, string, RegExp]> = [
      [{ node: 'did:key:z6MkOther' }, 'tasks[1].meta.node', /names did:key:z6MkOther/],
      [{ needs: ['secret:TOKEN'] }, 'tasks[1].meta.needs', /secret:TOKEN: no secret TOKEN/],
      [{ needs: ['net:127.0.0.1:9999'] }, 'tasks[1].meta.needs', /not in --allow-net/],
    ];
    for (const [meta, path, reason] of cases) {
      const wf = { tasks: [task(runner.rsc, 1, {}), task(runner.rsc, 5, meta)] };
      const error = await node.submit(wf).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(SchemaError);
      expect((error as SchemaError).path).toBe(path);
      expect((error as SchemaError).message).toMatch(reason);
    }
    expect(runner.total).toBe(0);
    await node.close();
    await log.close();
  });

  it('ends a task appended by a producer for another node in an unplaced error receipt', async () => {
    const { log, node } = await open();
    const wf = { tasks: [task(runner.rsc, 7, { node: 'did:key:z6MkOther' })] };
    const parsed = parseWorkflow(wf);
    const receipt = new Promise<IpldValue>((resolve) =>
      node.receipts(parsed.cid).subscribe((r) => resolve(r.body.out as unknown as IpldValue)),
    );
    await submitWorkflow(log, 'p', new TextEncoder().encode(JSON.stringify(wf)));
    const end = await node.ended(parsed.cid);
    expect(end.type).toBe('workflow/failed');
    const out = (await receipt) as [string, { kind: string; message: string }];
    expect(out[0]).toBe('error');
    expect(out[1].kind).toBe('unplaced');
    expect(out[1].message).toMatch(/meta\.node: node: the task names did:key:z6MkOther/);
    expect(runner.total).toBe(0);
    await node.close();
    await log.close();
  });
});
