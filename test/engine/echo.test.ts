// The echo (processors/engine/echo.ts): events this process appended, recalled on their read
// back instead of decoded, and forgotten once every read that recalls them has — so a workflow's
// submission, and the parse it keys, lives no longer than the workflow needs it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEcho } from '../../processors/engine/echo.ts';
import { createNode } from '../../processors/engine/node.ts';
import { createFileLog } from '../../streams/file/index.ts';
import type { LogRecord } from '../../streams/log.ts';
import type { NodeEvent } from '../../schemas/events.ts';
import { createCoreRunner } from '../harness/core-runner.ts';
import { addOneTask } from '../conformance/engine.suite.ts';
import { parseWorkflow, type ParsedWorkflow } from '../../schemas/model.ts';
import type { CID } from 'multiformats/cid';

/** A stand-in event: the echo never looks inside one. */
const event = (n: number): NodeEvent => ({ n }) as unknown as NodeEvent;
const at = (stream: string, partition: number, offset: number): LogRecord => ({
  stream,
  partition,
  offset,
  key: '',
  value: new Uint8Array(),
  headers: {},
  timestamp: 0,
});

describe('echo', () => {
  it('recalls an event until as many reads as it was remembered for have taken it', () => {
    const echo = createEcho();
    echo.remember('s', [{ partition: 0, offset: 0 }], [event(0)], [10], 2);
    echo.remember('t', [{ partition: 1, offset: 0 }], [event(1)], [10]);
    expect(echo.size).toBe(2);
    expect(echo.recall(at('s', 0, 0))).toEqual({ n: 0 });
    expect(echo.recall(at('s', 0, 0))).toEqual({ n: 0 });
    expect(echo.recall(at('s', 0, 0))).toBeUndefined();
    expect(echo.recall(at('t', 0, 0))).toBeUndefined(); // another partition
    expect(echo.recall(at('t', 1, 0))).toEqual({ n: 1 });
    expect(echo.recall(at('t', 1, 0))).toBeUndefined();
    expect(echo.size).toBe(0);
  });

  it('lets entries no read recalls go, oldest first, past its bound of entries', () => {
    const echo = createEcho(4);
    for (let i = 0; i < 10; i++) echo.remember('s', [{ partition: 0, offset: i }], [event(i)], [1]);
    expect(echo.size).toBe(4);
    expect(echo.recall(at('s', 0, 5))).toBeUndefined();
    expect(echo.recall(at('s', 0, 6))).toEqual({ n: 6 });
  });

  it('lets entries go past its bound of bytes', () => {
    const echo = createEcho(100, 1000);
    echo.remember('s', [{ partition: 0, offset: 0 }], [event(0)], [600]);
    echo.remember('s', [{ partition: 0, offset: 1 }], [event(1)], [600]);
    expect(echo.size).toBe(1);
    expect(echo.recall(at('s', 0, 0))).toBeUndefined();
    expect(echo.recall(at('s', 0, 1))).toEqual({ n: 1 });
  });

  it('keeps its bound with an unrecalled entry at the front and recalled ones behind it', () => {
    const echo = createEcho(8);
    echo.remember('s', [{ partition: 0, offset: 0 }], [event(0)], [1]); // never recalled
    for (let i = 1; i < 1000; i++) {
      echo.remember('s', [{ partition: 0, offset: i }], [event(i)], [1]);
      expect(echo.recall(at('s', 0, i))).toEqual({ n: i });
    }
    expect(echo.size).toBe(0);
    expect(echo.recall(at('s', 0, 0))).toBeUndefined();
  });

  it('replaces an entry remembered again at the same position', () => {
    const echo = createEcho(8);
    echo.remember('s', [{ partition: 0, offset: 0 }], [event(0)], [1]);
    echo.remember('s', [{ partition: 0, offset: 0 }], [event(1)], [1]);
    expect(echo.size).toBe(1);
    expect(echo.recall(at('s', 0, 0))).toEqual({ n: 1 });
    for (let i = 1; i < 20; i++) echo.remember('s', [{ partition: 0, offset: i }], [event(i)], [1]);
    expect(echo.size).toBe(8);
  });
});

describe('echo eviction', () => {
  it('tells apart the same offset in other partitions and streams, and evicts each alone', () => {
    const echo = createEcho(3);
    const ev = (name: string): NodeEvent => ({ type: 'marker', name }) as unknown as NodeEvent;
    const recall = (stream: string, partition: number, offset: number): NodeEvent | undefined =>
      echo.recall({ stream, partition, offset } as LogRecord);
    // Remembered for two reads: the first recalls below leave them in place.
    echo.remember('s', [{ partition: 0, offset: 5 }], [ev('s/0')], [10], 2);
    echo.remember('s', [{ partition: 1, offset: 5 }], [ev('s/1')], [10], 2);
    echo.remember('t', [{ partition: 0, offset: 5 }], [ev('t/0')], [10], 2);
    expect([recall('s', 0, 5), recall('s', 1, 5), recall('t', 0, 5)]).toEqual([
      ev('s/0'),
      ev('s/1'),
      ev('t/0'),
    ]);
    expect([recall('s', 0, 6), recall('s', 2, 5), recall('u', 0, 5)]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    echo.remember('t', [{ partition: 1, offset: 0 }], [ev('t/1')], [10]); // the oldest goes
    expect([recall('s', 0, 5), recall('s', 1, 5), recall('t', 1, 0)]).toEqual([
      undefined,
      ev('s/1'),
      ev('t/1'),
    ]);
  });

  it('keeps the newest `limit` events and forgets the oldest first', () => {
    const echo = createEcho(100);
    const ev = (i: number): NodeEvent => ({ type: 'marker', i }) as unknown as NodeEvent;
    for (let i = 0; i < 1_000; i += 10) {
      const results = Array.from({ length: 10 }, (_, j) => ({ partition: 0, offset: i + j }));
      echo.remember(
        's',
        results,
        results.map((r) => ev(r.offset)),
        results.map(() => 300),
      );
    }
    const at = recallAt(echo);
    expect(at(899)).toBeUndefined();
    expect(at(900)).toEqual(ev(900));
    expect(at(999)).toEqual(ev(999));
  });

  it('keeps no more than `limitBytes` of records: large outputs are decoded again instead', () => {
    const echo = createEcho(8_192, 1 << 20);
    const ev = (i: number): NodeEvent => ({ type: 'marker', i }) as unknown as NodeEvent;
    // 100 records of 64 KiB (an image per receipt): 16 fit in 1 MiB.
    for (let i = 0; i < 100; i++)
      echo.remember('s', [{ partition: 0, offset: i }], [ev(i)], [65_536]);
    const at = recallAt(echo);
    expect(at(83)).toBeUndefined();
    expect(at(84)).toEqual(ev(84));
    expect(at(99)).toEqual(ev(99));
  });
});

const recallAt =
  (echo: ReturnType<typeof createEcho>) =>
  (offset: number): NodeEvent | undefined =>
    echo.recall({
      stream: 's',
      partition: 0,
      offset,
      key: '',
      value: new Uint8Array(),
      headers: {},
      timestamp: 0,
    });

describe('a workflow that ended', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ipvm-echo-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('leaves no hold on its parse once it ended', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const runner = await createCoreRunner();
    const log = createFileLog({ dir: join(dir, 'log'), fsync: 'none' });
    const node = await createNode({ log, runner, nodeId: 'n' });
    try {
      // The parse is made here and dropped after the submit: only the node can hold it then.
      let first = 0;
      const submit = async (): Promise<{ parse: WeakRef<ParsedWorkflow>; cid: CID }> => {
        const tasks = Array.from({ length: 50 }, (_, i) => addOneTask(runner.rsc, first + i));
        first += 50;
        const parsed = parseWorkflow({ tasks });
        await node.submit(parsed);
        return { parse: new WeakRef(parsed), cid: parsed.cid };
      };
      const { parse, cid } = await submit();
      expect((await node.ended(cid)).type).toBe('workflow/completed');
      // A later workflow's records go through the echo after it (before the fix the echo held
      // the last 2 048 events, the submission among them).
      const later = await submit();
      await node.ended(later.cid);
      await new Promise((resolve) => setTimeout(resolve, 20));
      gc();
      expect(parse.deref()).toBeUndefined();
    } finally {
      await node.close();
      await log.close();
    }
  });
});
