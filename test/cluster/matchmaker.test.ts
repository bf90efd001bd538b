// The matchmaker's protocol on a real (file) log, two members in one process with a fixed view
// (`a` owns everything): who runs what (a long task where it ran fastest, a data-heavy one
// where its blocks are), who refuses what and why, one decision per round, a
// task drawn twice offered once, a malformed placement refused with its field, and a member
// restarted after an award to it runs the task when it reads the stream back — from its resume
// point: the oldest offer it had not seen settled (records read counted), or from 0 when the
// point is stale or damaged.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';
import * as raw from 'multiformats/codecs/raw';
import { createFileLog } from '../../streams/file/index.ts';
import type { Log } from '../../streams/log.ts';
import {
  createMatchmaker,
  offersStream,
  type Matchmaker,
} from '../../processors/cluster/matchmaker.ts';
import { createCostHistory, type CostHistory } from '../../processors/cluster/cost-history.ts';
import { createFileResumeStore, type ResumeStore } from '../../processors/cluster/resume-point.ts';
import { newReceiptEvent } from '../../processors/engine/receipts.ts';
import type { TaskReadyEvent } from '../../schemas/events.ts';
import { offerAndAward, offerId, readyEvent, RSC } from './offer-records.ts';

const ready = readyEvent;

interface Member {
  mm: Matchmaker;
  history: CostHistory;
  ran: TaskReadyEvent[];
  refused: Array<{ event: TaskReadyEvent; reason: string }>;
  /** Resolves on the next run or refusal here. */
  next(): Promise<string>;
}

async function member(
  log: Log,
  id: string,
  secrets: string[],
  settled = new Set<string>(),
  opts: { resume?: ResumeStore; errors?: Error[]; holds?: Set<string> } = {},
): Promise<Member> {
  const history = createCostHistory();
  const ran: TaskReadyEvent[] = [];
  const refused: Member['refused'] = [];
  let wake: ((what: string) => void) | undefined;
  const mm = await createMatchmaker({
    log,
    namespace: 't',
    membership: { nodeId: id, owner: () => 'a', live: () => ['a', 'b'], onChange: () => () => {} },
    capabilities: () => ({ nodeId: id, effectHosts: [], secrets }),
    history,
    load: () => ({ running: 0, concurrency: 4 }),
    bidWindowMs: 60_000, // both members always answer: the owner decides on the last answer
    resume: opts.resume,
    hasData: (cid) => Promise.resolve(opts.holds?.has(cid) === true),
    onError: (e) => {
      if (opts.errors === undefined) throw e;
      opts.errors.push(e);
    },
  });
  mm.attach({
    run(event) {
      ran.push(event);
      wake?.(`run ${id}`);
    },
    refuse(event, reason) {
      refused.push({ event, reason });
      wake?.(`refused ${id}`);
      return Promise.resolve();
    },
    settled: (event) => settled.has(event.instruction.toString()),
  });
  return {
    mm,
    history,
    ran,
    refused,
    next: () => new Promise((resolve) => (wake = resolve)),
  };
}

/** Resolves once `done()` holds, checked after each run or refusal of `m`. */
async function until(m: Member, done: () => boolean): Promise<void> {
  while (!done()) await m.next();
}

async function decisions(log: Log): Promise<Array<{ kind: string; node?: string; round: number }>> {
  const out = [];
  for await (const r of log.read(offersStream('t'))) {
    const m = JSON.parse(new TextDecoder().decode(r.value)) as {
      kind: string;
      node?: string;
      round: number;
    };
    if (m.kind === 'award' || m.kind === 'unplaced') out.push(m);
  }
  return out;
}

describe('matchmaker', () => {
  let dir: string;
  let log: Log;
  let a: Member;
  let b: Member;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ipvm-mm-'));
    log = createFileLog({ dir });
    a = await member(log, 'a', []);
    b = await member(log, 'b', ['S']);
  });
  afterEach(async () => {
    await a.mm.close();
    await b.mm.close();
    await log.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('awards a task naming a node, or needing what one node has, to that node', async () => {
    let ran = b.next();
    await a.mm.place(ready(1, { node: 'b' }));
    expect(await ran).toBe('run b');
    ran = b.next();
    await a.mm.place(ready(2, { needs: ['secret:S'] }));
    expect(await ran).toBe('run b');
    expect(a.ran).toEqual([]);
    expect(b.ran.map((e) => e.args)).toEqual([[1], [2]]);
    expect((await decisions(log)).map((d) => [d.kind, d.node])).toEqual([
      ['award', 'b'],
      ['award', 'b'],
    ]);
  });

  it('prefers the node that has the module compiled when both may run it', async () => {
    const done = b.next();
    b.history.observe(
      newReceiptEvent({
        ...ready(9, {}),
        run: ready(9, {}).task.run,
        out: ['ok', 10],
        fuel: 1,
        durationMs: 2,
        executor: 'b',
        at: 0,
      }),
    );
    await a.mm.place(ready(3, { needs: [`module:${RSC.slice(7)}`] }));
    expect(await done).toBe('run b');
  });

  it('sends a long task where it ran fastest, and a data-heavy one where its data is', async () => {
    const observe = (m: Member, durationMs: number): void =>
      m.history.observe(
        newReceiptEvent({
          ...ready(90, {}),
          run: ready(90, {}).task.run,
          out: ['ok', 91],
          fuel: 1,
          durationMs,
          executor: 'x',
          at: 0,
        }),
      );
    observe(a, 400); // both have the module compiled; add_one took 400 ms on a, 5 ms on b
    observe(b, 5);
    let ran = b.next();
    await a.mm.place(ready(11, { needs: [`module:${RSC.slice(7)}`] }));
    expect(await ran).toBe('run b');
    // Ten blocks that only a holds: fetching them costs b more than a's slower run.
    const blocks = await Promise.all(
      Array.from({ length: 10 }, async (_, i) =>
        CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(`block ${i}`))),
      ),
    );
    await a.mm.close(); // a again, now holding the blocks (and the same measured run)
    a = await member(log, 'a', [], new Set(), { holds: new Set(blocks.map(String)) });
    observe(a, 400);
    ran = a.next();
    await b.mm.place(ready(12, { needs: blocks.map((c) => `data:${c.toString()}`) }));
    expect(await ran).toBe('run a');
    expect((await decisions(log)).slice(-2).map((d) => [d.kind, d.node])).toEqual([
      ['award', 'b'],
      ['award', 'a'],
    ]);
  });

  it('refuses what no live node can serve, with each node’s reason, once', async () => {
    const refused = a.next();
    await b.mm.place(ready(4, { needs: ['secret:NONE'] }));
    expect(await refused).toBe('refused a');
    expect(a.refused[0]!.reason).toBe(
      'no live node can run it (live: a, b) — a: secret:NONE: no secret NONE; b: secret:NONE: no secret NONE',
    );
    expect(b.refused).toEqual([]);
    expect(await decisions(log)).toHaveLength(1);
  });

  it('runs a task drawn twice once, and refuses a malformed placement with its field', async () => {
    const event = ready(5, { node: 'b' });
    await a.mm.place(event);
    await b.mm.place(event); // the same task drawn again elsewhere: a second offer of round 0
    const refused = a.next();
    await a.mm.place(ready(6, { needs: ['gpu:1'] }));
    expect(await refused).toBe('refused a');
    expect(a.refused[0]!.reason).toMatch(/^meta\.needs\[0\]: unknown need "gpu:1"/);
    // Records are read in order: once a later task ran, every earlier record was folded.
    await a.mm.place(ready(8, { node: 'b' }));
    await until(b, () => b.ran.some((e) => e.args[0] === 8));
    expect(b.ran.map((e) => e.args)).toEqual([[5], [8]]);
    expect(await decisions(log)).toHaveLength(2);
  });

  it('a member started again runs what was awarded to it and has no receipt yet', async () => {
    const ran = b.next();
    await a.mm.place(ready(7, { node: 'b' }));
    await ran;
    await b.mm.close();
    // As if `b` died before its receipt: the new `b` reads the award back and runs the task …
    const again = await member(log, 'b', ['S']);
    expect(again.ran.map((e) => e.args)).toEqual([]);
    await until(again, () => again.ran.length > 0);
    expect(again.ran.map((e) => e.args)).toEqual([[7]]);
    await again.mm.close();
    // … but not when the receipt is there.
    const settled = await member(log, 'b', ['S'], new Set([ready(7, {}).instruction.toString()]));
    b = settled;
    expect(settled.ran).toEqual([]);
  });

  describe('resume point', () => {
    const args = (m: Member): number[] => m.ran.map((e) => e.args[0] as number).sort();
    /** Offset of the offer record of `event`'s first round. */
    async function offerOffset(event: TaskReadyEvent): Promise<number> {
      const id = offerId(event);
      for await (const r of log.read(offersStream('t'))) {
        const m = JSON.parse(new TextDecoder().decode(r.value)) as { kind: string; id: string };
        if (m.kind === 'offer' && m.id === id) return r.offset;
      }
      throw new Error(`no offer for ${id}`);
    }
    async function records(from = 0): Promise<number> {
      let n = 0;
      for await (const r of log.read(offersStream('t'))) if (r.offset >= from) n++;
      return n;
    }
    /** Appends what an owner would, by hand: an offer of `event` and its award to `node`. */
    async function awardByHand(event: TaskReadyEvent, node: string): Promise<void> {
      await log.append(offersStream('t'), offerAndAward(event, node, 'a'));
    }

    it('a member started again reads from its oldest unsettled offer and serves what came while it was down', async () => {
      const store = createFileResumeStore(join(dir, 'b-resume.json'));
      const settled = new Set<string>();
      const settle = (m: Member): void => {
        for (const e of m.ran) settled.add(e.instruction.toString());
      };
      await b.mm.close();
      b = await member(log, 'b', ['S'], settled, { resume: store });
      // One award that stays without a receipt (b dies before it), then ten settled ones.
      const early = ready(50, { node: 'b' });
      await a.mm.place(early);
      await until(b, () => b.ran.length === 1);
      for (let i = 0; i < 10; i++) {
        await a.mm.place(ready(100 + i, { node: 'b' }));
        await until(b, () => b.ran.length === 2 + i);
        settled.add(b.ran.at(-1)!.instruction.toString());
      }
      await b.mm.close();
      // While b is down: an award to it, and an open offer only it can take.
      await awardByHand(ready(60, { node: 'b' }), 'b');
      await a.mm.place(ready(61, { node: 'b' }));

      let again = await member(log, 'b', ['S'], settled, { resume: store });
      await until(again, () => again.ran.length === 3);
      expect(args(again)).toEqual([50, 60, 61]);
      // It read from the unsettled award on, not from the start.
      expect(again.mm.stats().from).toBe(await offerOffset(early));
      expect(again.mm.stats().read).toBe(await records(again.mm.stats().from));
      settle(again);
      await again.mm.close();

      // Once all is settled, a start reads one record (the resume point's anchor) and the new.
      const total = await records();
      const latest = ready(62, { node: 'b' });
      await a.mm.place(latest);
      again = await member(log, 'b', ['S'], settled, { resume: store });
      await until(again, () => again.ran.length === 1);
      expect(args(again)).toEqual([62]);
      expect(again.mm.stats().from).toBe(total - 1);
      expect(again.mm.stats().read).toBe(await records(total - 1));
      expect(again.mm.stats().read).toBeLessThan(total / 10);
      b = again;
    });

    it('a resume point whose record is not on the stream, or a damaged one, reads from the start', async () => {
      const ran = b.next();
      await a.mm.place(ready(70, { node: 'b' }));
      await ran;
      await b.mm.close();
      // Saved against another stream (another broker, a re-created stream): its anchor is not here.
      const path = join(dir, 'stale.json');
      const store = createFileResumeStore(path);
      const total = await records();
      await store.save({ position: total, anchor: { offset: total - 1, key: 'x', timestamp: 1 } });
      const errors: Error[] = [];
      b = await member(log, 'b', ['S'], new Set(), { resume: store, errors });
      await until(b, () => b.ran.length === 1);
      expect(args(b)).toEqual([70]);
      expect(b.mm.stats().from).toBe(0);
      expect(errors.map((e) => (e.cause as Error).message)).toEqual([
        `t.offers: the resume point's record (offset ${total - 1}, key x) is not on the stream: reading it from its start`,
      ]);
      await b.mm.close();
      await writeFile(path, '{"position": 3');
      errors.length = 0;
      b = await member(log, 'b', ['S'], new Set(), { resume: store, errors });
      await until(b, () => b.ran.length === 1);
      expect(b.mm.stats().from).toBe(0);
      expect(errors.map((e) => (e.cause as Error).message)).toEqual([`${path}: not JSON`]);
    });

    it('the file store names the file and the field of a damaged point', async () => {
      const path = join(dir, 'point.json');
      const store = createFileResumeStore(path);
      expect(await store.load()).toBeUndefined();
      const point = { position: 4, anchor: { offset: 3, key: 'k', timestamp: 1 } };
      await store.save(point);
      expect(await store.load()).toEqual(point);
      for (const [text, why] of [
        ['{"position": -1}', 'position: expected an offset'],
        ['{"position": 1, "anchor": {"offset": 0}}', 'anchor: expected {offset, key, timestamp}'],
        [
          '{"position": 9, "anchor": {"offset": 3, "key": "k", "timestamp": 1}}',
          'position: past the anchor (offset 3) + 1',
        ],
      ]) {
        await writeFile(path, text!);
        await expect(store.load()).rejects.toThrow(`${path}: ${why}`);
      }
    });
  });
});
