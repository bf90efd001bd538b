// Schedules with an injected clock: no test waits for a real minute boundary.
import { describe, expect, it } from 'vitest';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { NodeEvent } from '../../schemas/events.ts';
import { eventRecord } from '../../processors/engine/envelope.ts';
import { createNode } from '../../processors/engine/node.ts';
import {
  catchUp,
  createManualTime,
  createScheduleFirer,
  jitterOf,
  scheduleCreated,
  ScheduleError,
  tickSeries,
  tickWorkflow,
  type ManualTime,
} from '../../processors/schedules/index.ts';
import { createMemoryLog } from '../tables/memory-log.ts';
import { chain } from '../conformance/engine.suite.ts';
import { createCoreRunner } from '../harness/core-runner.ts';
import type { Log } from '../../streams/log.ts';

const STREAM = 'ipvm.invocations';
const RSC = 'ipfs://bafkreigc4g7ygs4m7ojs3dkqt64rjmyrdpglyo36ltd6462pf4pytn4weu';
const iso = (ms: number): string => new Date(ms).toISOString();

async function append(log: Log, event: NodeEvent, key = 'k'): Promise<void> {
  await log.append(STREAM, [eventRecord(key, event)]);
}

/** A submit that appends the workflow/submitted event, as node.submit does. */
function submitter(log: Log, at: () => number) {
  const submitted: Array<{ name: string | null; cid: string }> = [];
  return {
    submitted,
    submit: async (value: IpldValue): Promise<void> => {
      const parsed = parseWorkflow(value);
      submitted.push({ name: parsed.name, cid: parsed.cid.toString() });
      await append(
        log,
        {
          type: 'workflow/submitted',
          workflow: parsed.cid,
          body: parsed.workflow,
          name: parsed.name,
          at: at(),
        },
        parsed.cid.toString(),
      );
    },
  };
}

async function setup(start: string) {
  const log = createMemoryLog();
  await log.ensureStreams([{ name: STREAM, partitions: 2 }]);
  const time = createManualTime(Date.parse(start));
  return { log, time };
}

async function create(
  log: Log,
  time: ManualTime,
  o: { name?: string; cron: string; tz?: string; catchUp?: string; jitterMs?: number; at?: number },
) {
  await append(
    log,
    scheduleCreated({
      name: o.name ?? 'job',
      cron: o.cron,
      tz: o.tz,
      catchUp: o.catchUp,
      jitterMs: o.jitterMs,
      target: { workflow: chain(RSC, 2) },
      at: o.at ?? time.now(),
    }),
    o.name ?? 'job',
  );
}

async function firer(log: Log, time: ManualTime, submit: (v: IpldValue) => Promise<void>) {
  const f = await createScheduleFirer({
    log,
    stream: STREAM,
    submit,
    clock: time.now,
    timer: time.timer,
  });
  // let the firer read back what was just appended
  await new Promise((r) => setTimeout(r, 20));
  return f;
}

const tickOf = (name: string | null): string => name!.slice(name!.lastIndexOf('@') + 1);

describe('next ticks (croner)', () => {
  it('spring forward: a 02:30 that does not exist fires at 03:00 local, once', () => {
    const s = tickSeries('30 2 * * *', 'America/New_York');
    const ticks = s.between(
      Date.parse('2026-03-07T12:00:00Z'),
      Date.parse('2026-03-10T12:00:00Z'),
      10,
    );
    expect(ticks.map(iso)).toEqual([
      '2026-03-08T07:00:00.000Z', // 03:00 EDT: the first instant after the gap
      '2026-03-09T06:30:00.000Z',
      '2026-03-10T06:30:00.000Z',
    ]);
  });
  it('fall back: a repeated 01:30 fires once; hourly ticks stay one hour apart in UTC', () => {
    const s = tickSeries('0 30 1 * * *', 'America/New_York');
    const ticks = s.between(
      Date.parse('2026-10-31T12:00:00Z'),
      Date.parse('2026-11-02T12:00:00Z'),
      10,
    );
    expect(ticks.map(iso)).toEqual(['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z']);
    const hourly = tickSeries('0 * * * *', 'Europe/Berlin');
    const h = hourly.between(
      Date.parse('2026-10-25T00:30:00Z'),
      Date.parse('2026-10-25T03:30:00Z'),
      10,
    );
    expect(h.map(iso)).toEqual([
      '2026-10-25T01:00:00.000Z',
      '2026-10-25T02:00:00.000Z',
      '2026-10-25T03:00:00.000Z',
    ]);
  });
  it('seconds, and located errors for bad patterns and zones', () => {
    expect(tickSeries('*/10 * * * * *').next(Date.parse('2026-01-01T00:00:10Z'))).toBe(
      Date.parse('2026-01-01T00:00:20Z'),
    );
    expect(() => tickSeries('61 * * * *')).toThrow(ScheduleError);
    expect(() => tickSeries('61 * * * *')).toThrow(/^cron: /);
    expect(() => tickSeries('* * * * *', 'Mars/Base')).toThrow(/^tz: unknown time zone/);
  });
  it('jitter is a pure function of name and tick, within bounds; catch-up policies', () => {
    const j = jitterOf('a', 1000, 5000);
    expect(jitterOf('a', 1000, 5000)).toBe(j);
    expect(j).toBeGreaterThanOrEqual(0);
    expect(j).toBeLessThanOrEqual(5000);
    expect(
      new Set([1, 2, 3, 4, 5, 6].map((t) => jitterOf('a', t * 60_000, 5000))).size,
    ).toBeGreaterThan(1);
    expect(catchUp([1, 2, 3], 'skip')).toEqual([]);
    expect(catchUp([1, 2, 3], 'latest')).toEqual([3]);
    expect(catchUp([1, 2, 3], 'all', 2)).toEqual([2, 3]);
  });
  it('the tick workflow: every nonce derived from name and tick, awaits re-pointed', () => {
    const a = tickWorkflow(chain(RSC, 3), 'job', Date.parse('2026-01-01T00:01:00Z'));
    const b = tickWorkflow(chain(RSC, 3), 'job', Date.parse('2026-01-01T00:01:00Z'));
    const c = tickWorkflow(chain(RSC, 3), 'job', Date.parse('2026-01-01T00:02:00Z'));
    expect(a.parsed.cid.toString()).toBe(b.parsed.cid.toString());
    expect(a.parsed.cid.toString()).not.toBe(c.parsed.cid.toString());
    expect(a.parsed.tasks.map((t) => t.task.run.nnc)).toEqual(
      Array(3).fill('cron:job@2026-01-01T00:01:00.000Z'),
    );
    // the chain is still a chain: each task awaits the renamed previous one
    expect(a.parsed.external).toEqual([]);
    expect(a.parsed.tasks.map((t) => t.dependsOn)).toEqual([[], [0], [1]]);
  });
});

describe('the firer', () => {
  it('fires every minute on time, across a DST change in the schedule zone', async () => {
    // Berlin falls back at 01:00Z on 2026-10-25: local 02:xx happens twice.
    const { log, time } = await setup('2026-10-25T00:58:30Z');
    await create(log, time, { cron: '*/30 * * * *', tz: 'Europe/Berlin' });
    const s = submitter(log, time.now);
    const f = await firer(log, time, s.submit);
    await time.advance(3 * 3600_000);
    await f.idle();
    await f.close();
    expect(s.submitted.map((x) => tickOf(x.name))).toEqual([
      '2026-10-25T01:00:00.000Z',
      '2026-10-25T01:30:00.000Z',
      '2026-10-25T02:00:00.000Z',
      '2026-10-25T02:30:00.000Z',
      '2026-10-25T03:00:00.000Z',
      '2026-10-25T03:30:00.000Z',
    ]);
  });

  it('jitter delays each tick by its deterministic amount', async () => {
    const { log, time } = await setup('2026-01-01T00:00:30Z');
    await create(log, time, { cron: '* * * * *', jitterMs: 20_000 });
    const fired: number[] = [];
    const f = await createScheduleFirer({
      log,
      stream: STREAM,
      submit: () => Promise.resolve(),
      clock: time.now,
      timer: time.timer,
      onProgress: (e) => {
        if (e.type === 'schedule:fired') fired.push(time.now() - e.tickMs);
      },
    });
    await time.advance(3 * 60_000);
    await f.close();
    const ticks = [1, 2, 3].map((m) => Date.parse('2026-01-01T00:00:00Z') + m * 60_000);
    expect(fired).toEqual(ticks.map((t) => jitterOf('job', t, 20_000)));
  });

  for (const [policy, expected] of [
    ['skip', ['00:10']],
    ['latest', ['00:09', '00:10']],
    ['all', ['00:05', '00:06', '00:07', '00:08', '00:09', '00:10']],
  ] as const) {
    it(`restart after downtime follows --catch-up ${policy}`, async () => {
      const { log, time } = await setup('2026-01-01T00:03:30Z');
      await create(log, time, { cron: '* * * * *', catchUp: policy });
      const s = submitter(log, time.now);
      let f = await firer(log, time, s.submit);
      await time.advance(60_000); // fires 00:04
      await f.close();
      time.jump(5 * 60_000 + 1_000); // down from 00:04:30 to 00:09:31: 00:05…00:09 missed
      s.submitted.length = 0;
      f = await firer(log, time, s.submit);
      await time.advance(30_000); // 00:10 on time
      await f.idle();
      await f.close();
      expect(s.submitted.map((x) => tickOf(x.name).slice(11, 16))).toEqual([...expected]);
    });
  }

  it('--catch-up all is bounded', async () => {
    const { log, time } = await setup('2026-01-01T00:00:00Z');
    await create(log, time, { cron: '* * * * * *', catchUp: 'all' }); // every second
    time.jump(3600_000 + 500);
    const s = submitter(log, time.now);
    const f = await createScheduleFirer({
      log,
      stream: STREAM,
      submit: s.submit,
      clock: time.now,
      timer: time.timer,
      maxCatchUp: 7,
      graceMs: 0,
    });
    await f.idle();
    await f.close();
    expect(s.submitted).toHaveLength(7);
    expect(tickOf(s.submitted.at(-1)!.name)).toBe('2026-01-01T01:00:00.000Z');
  });

  it('a removed schedule stops', async () => {
    const { log, time } = await setup('2026-01-01T00:00:30Z');
    await create(log, time, { cron: '* * * * *' });
    const s = submitter(log, time.now);
    const f = await firer(log, time, s.submit);
    await time.advance(2 * 60_000); // 00:01, 00:02
    await append(log, { type: 'schedule/removed', name: 'job', at: time.now() }, 'job');
    await new Promise((r) => setTimeout(r, 20));
    await time.advance(5 * 60_000);
    await f.close();
    expect(s.submitted).toHaveLength(2);
  });

  it('two nodes on one log fire each tick as one workflow CID, and it runs once', async () => {
    const { log, time } = await setup('2026-01-01T00:00:30Z');
    const runner = await createCoreRunner();
    await log.ensureStreams([{ name: STREAM, partitions: 2 }]);
    const node = await createNode({
      log,
      runner,
      nodeId: 'n',
      topology: { namespace: 'ipvm' },
      tickIntervalMs: 60_000,
    });
    try {
      await append(
        log,
        scheduleCreated({
          name: 'job',
          cron: '* * * * *',
          target: { workflow: chain(runner.rsc, 2) },
          at: time.now(),
        }),
        'job',
      );
      const submitted: string[] = [];
      const submit = async (v: IpldValue): Promise<void> => {
        submitted.push((await node.submit(v)).cid.toString());
      };
      const a = await firer(log, time, submit);
      const b = await firer(log, time, submit);
      await time.advance(3 * 60_000, () => new Promise((r) => setTimeout(r, 5)));
      await a.idle();
      await b.idle();
      await a.close();
      await b.close();
      const distinct = [...new Set(submitted)];
      expect(distinct).toHaveLength(3); // three ticks, each one CID whoever fired it
      for (const cid of distinct) {
        const { CID } = await import('multiformats/cid');
        const end = await node.ended(CID.parse(cid), { signal: AbortSignal.timeout(5_000) });
        expect(end.type).toBe('workflow/completed');
      }
      expect(runner.total).toBe(3 * 2); // each task of each tick executed once
    } finally {
      await node.close();
    }
  });
});

describe('schedule events', () => {
  it('round-trip through the envelope; a bad field is named', async () => {
    const { decodeEvent, encodeEvent } = await import('../../schemas/events.ts');
    const { dagCbor } = await import('../../schemas/codecs.ts');
    const { SchemaError } = await import('../../schemas/errors.ts');
    const event = scheduleCreated({
      name: 'nightly',
      cron: '0 3 * * *',
      tz: 'Europe/Berlin',
      catchUp: 'latest',
      jitterMs: 500,
      target: {
        replay: { into: 'verify', from: '-24h', to: null, workflow: null, reexecute: 0.1 },
      },
      at: 1,
    });
    expect(decodeEvent(encodeEvent(event))).toEqual(event);
    const bad = (patch: Record<string, unknown>) => dagCbor.encode({ v: 1, ...event, ...patch });
    expect(() => decodeEvent(bad({ catchUp: 'never' }))).toThrow(SchemaError);
    expect(() => decodeEvent(bad({ catchUp: 'never' }))).toThrow(
      /^catchUp: expected one of skip, latest, all/,
    );
    expect(() => decodeEvent(bad({ target: { replay: { into: 'disk' } } }))).toThrow(
      /^target\.replay\.into: /,
    );
    expect(() => decodeEvent(bad({ jitterMs: -1 }))).toThrow(/^jitterMs: /);
    expect(() => scheduleCreated({ ...event, name: 'a b', target: event.target })).toThrow(
      /^name: /,
    );
  });
});
