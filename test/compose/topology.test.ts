// The partitions the composition root gives the node's streams (processors/compose/open-log.ts):
// one per new stream on the embedded file log, the counts a data directory's streams were
// created with otherwise, a broker's defaults there.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openNode } from '../../processors/compose/open-node.ts';
import { FILE_LOG_PARTITIONS, topologyFor } from '../../processors/compose/open-log.ts';
import { createNode } from '../../processors/engine/node.ts';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log } from '../../streams/log.ts';
import { DEFAULT_PARTITIONS, STREAM_NAMES } from '../../streams/topology.ts';
import { createCoreRunner } from '../harness/core-runner.ts';
import { chain } from '../conformance/engine.suite.ts';
import { parseWorkflow } from '../../schemas/model.ts';

/** Partitions of each of the node's streams in the file log at `dir`. */
async function partitionsOf(dir: string): Promise<number[]> {
  const log = createFileLog({ dir, readOnly: true });
  try {
    return await Promise.all(STREAM_NAMES.map((s) => log.partitions(`ipvm.${s}`)));
  } finally {
    await log.close();
  }
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ipvm-topology-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the node streams of a file log', () => {
  it('are created with one partition each by a node the composition root opens', async () => {
    expect(FILE_LOG_PARTITIONS).toBe(1);
    const opened = await openNode({ dataDir: dir, auth: false, log: { backend: 'file' } });
    try {
      expect(opened.node.topology.streams.map((s) => s.partitions)).toEqual(
        STREAM_NAMES.map(() => 1),
      );
    } finally {
      await opened[Symbol.asyncDispose]();
    }
    expect(await partitionsOf(join(dir, 'log'))).toEqual(STREAM_NAMES.map(() => 1));
  });

  it('keep the partitions a data directory was created with, and its memo', async () => {
    // A data directory whose streams have the brokers' default counts (as every file log's
    // had before), with one workflow run.
    const log = createFileLog({ dir: join(dir, 'log') });
    const runner = await createCoreRunner();
    const first = await createNode({ log, runner, nodeId: 'before' });
    const wf = parseWorkflow(chain(runner.rsc, 1, 41));
    try {
      await first.submit(wf);
      expect((await first.ended(wf.cid)).type).toBe('workflow/completed');
    } finally {
      await first.close();
      await log.close();
    }
    const four = STREAM_NAMES.map((s) => DEFAULT_PARTITIONS[s]);
    expect(await partitionsOf(join(dir, 'log'))).toEqual(four);

    const opened = await openNode({ dataDir: dir, auth: false, log: { backend: 'file' } });
    try {
      expect(opened.node.topology.streams.map((s) => s.partitions)).toEqual(four);
      // The same workflow again is answered from the memo the old streams hold.
      await opened.node.submit(wf);
      const end = await opened.node.ended(wf.cid);
      expect(end.type).toBe('workflow/completed');
      expect(end.replayed).toBe(1);
    } finally {
      await opened[Symbol.asyncDispose]();
    }
    expect(await partitionsOf(join(dir, 'log'))).toEqual(four);
  });

  it('a broker keeps its defaults without asking the log', async () => {
    const asked: string[] = [];
    const broker = {
      partitions: (stream: string) => {
        asked.push(stream);
        return Promise.resolve(1);
      },
    } as unknown as Log;
    const topology = await topologyFor(broker, 'kafka', 'ipvm');
    expect(topology.streams.map((s) => s.partitions)).toEqual(
      STREAM_NAMES.map((s) => DEFAULT_PARTITIONS[s]),
    );
    expect(asked).toEqual([]);
  });
});
