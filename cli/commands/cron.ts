// `ipvm cron add|list|rm|runs`: schedules as events on `invocations`. A running node
// (`ipvm start`) fires them; these commands only append and read events.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { NodeEvent } from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import type { ReplayJob, ScheduleCreatedEvent, ScheduleTarget } from '../../schemas/job-events.ts';
import type { ScheduleState } from '../../processors/schedules/index.ts';
import { UsageError } from '../exit.ts';
import { readInput } from '../io.ts';
import { logOptions, type NodeFlags, logPlace } from '../node-context.ts';
import { openReadLog, openWriteLog } from '../../processors/compose/open-log.ts';
import { parseFraction } from './replay.ts';

interface CronFlags extends NodeFlags {
  tz?: string;
  catchUp?: string;
  jitter?: string;
  replay?: string;
  from?: string;
  to?: string;
  workflow?: string;
  reexecute?: string | boolean;
  json?: boolean;
  past?: string;
  next?: string;
}

/** The modules the cron commands use, loaded on use so that other commands start fast. */
async function load() {
  const [model, records, schedules, range] = await Promise.all([
    import('../../schemas/model.ts'),
    import('../../processors/engine/envelope.ts'),
    import('../../processors/schedules/index.ts'),
    import('../../processors/replay/range.ts'),
  ]);
  return { ...model, ...records, ...schedules, ...range };
}
type Modules = Awaited<ReturnType<typeof load>>;

/** Bad input of a cron command (exit 1). */
class CronError extends Error {
  override name = 'CronError';
  readonly retryable = false;
}

async function appendEvent(
  m: Modules,
  flags: NodeFlags,
  key: string,
  event: NodeEvent,
): Promise<void> {
  const opened = await openWriteLog(logPlace(flags));
  try {
    await opened.log.ensureStreams(opened.topology.streams);
    await opened.log.append(opened.topology.name('invocations'), [m.eventRecord(key, event)]);
  } finally {
    await opened[Symbol.asyncDispose]();
  }
}

async function fold(m: Modules, flags: NodeFlags): Promise<ScheduleState> {
  const state = m.createScheduleState();
  const opened = await openReadLog(logPlace(flags));
  try {
    await m.foldInvocations(opened.log, opened.topology.name('invocations'), state);
  } finally {
    await opened[Symbol.asyncDispose]();
  }
  return state;
}

function targetOf(
  m: Modules,
  file: string | undefined,
  flags: CronFlags,
  bytes: Uint8Array | null,
): ScheduleTarget {
  if (flags.replay !== undefined) {
    if (file !== undefined) throw new UsageError('give a workflow FILE or --replay, not both');
    if (flags.replay !== 'verify' && flags.replay !== 'tables')
      throw new UsageError(`--replay takes verify or tables (got ${flags.replay})`);
    m.parseRange(flags, Date.now()); // validated now, resolved at each tick
    const job: ReplayJob = {
      into: flags.replay,
      from: flags.from ?? null,
      to: flags.to ?? null,
      workflow: flags.workflow ?? null,
      reexecute: parseFraction(flags.reexecute),
    };
    return { replay: job };
  }
  if (bytes === null)
    throw new UsageError('give a workflow FILE (or - for stdin), or --replay verify|tables');
  return { workflow: m.parseWorkflow(bytes).workflow as unknown as IpldValue };
}

const describeTarget = (m: Modules, s: ScheduleCreatedEvent): string =>
  'workflow' in s.target
    ? `workflow ${m.parseWorkflow(s.target.workflow).cid.toString()}`
    : `replay ${s.target.replay.into}${s.target.replay.reexecute > 0 ? ` reexecute ${s.target.replay.reexecute}` : ''}${s.target.replay.from === null ? '' : ` from ${s.target.replay.from}`}`;

const print = (line: string): boolean => process.stdout.write(line + '\n');

export function registerCron(program: Command): void {
  const cron = program
    .command('cron')
    .description(
      'Schedules: run a workflow or a replay job on a cron pattern, fired by running nodes',
    );
  logOptions(
    cron
      .command('add')
      .description('Create (or replace) a schedule')
      .argument('<name>', 'schedule name: letters, digits, ".", "_", "-"')
      .argument('<cron>', 'cron pattern: 5 fields, or 6 with seconds first')
      .argument('[file]', 'workflow file (DAG-JSON or DAG-CBOR; - for stdin)')
      .option('--tz <zone>', 'IANA time zone of the pattern (default UTC)')
      .option(
        '--catch-up <policy>',
        'ticks missed while no node ran: skip, latest or all (bounded to 100)',
        'skip',
      )
      .option('--jitter <ms>', 'fire each tick up to MS later, by an amount fixed per tick', '0')
      .option('--replay <job>', 'run a replay job instead of a workflow: verify or tables')
      .option(
        '--from <offset|time>',
        'replay job range start (e.g. -24h: the day before each tick)',
      )
      .option('--to <offset|time>', 'replay job range end, exclusive (default: the tick)')
      .option('--workflow <cid>', "replay job: only this workflow's events")
      .option(
        '--reexecute [fraction]',
        'verify job: re-execute a sample (default all) of the pure tasks',
      ),
  )
    .addHelpText(
      'after',
      `
Examples:
  ipvm cron add every-minute "* * * * *" examples/workflows/add-one.json
  ipvm cron add nightly "0 3 * * *" --tz Europe/Berlin --replay verify --reexecute 0.1 --from -24h
  ipvm cron add often "*/10 * * * * *" wf.json --catch-up latest --jitter 2000`,
    )
    .action(async (name: string, pattern: string, file: string | undefined, flags: CronFlags) => {
      const m = await load();
      const bytes = file === undefined ? null : await readInput(file, readFile);
      const jitterMs = Number(flags.jitter ?? 0);
      let event: ScheduleCreatedEvent;
      try {
        event = m.scheduleCreated({
          name,
          cron: pattern,
          tz: flags.tz ?? null,
          catchUp: flags.catchUp,
          jitterMs,
          target: targetOf(m, file, flags, bytes),
          at: Date.now(),
        });
      } catch (err) {
        if (err instanceof m.ScheduleError)
          throw Object.assign(new UsageError(err.message), { cause: err });
        throw err;
      }
      await appendEvent(m, flags, name, event);
      const next = m.tickSeries(event.cron, event.tz).next(event.at);
      print(
        `${name}: ${describeTarget(m, event)}, next tick ${next === null ? 'never' : new Date(next).toISOString()}`,
      );
    });

  logOptions(
    cron.command('list').description('List the live schedules').option('--json', 'print JSON'),
  ).action(async (flags: CronFlags) => {
    const m = await load();
    const state = await fold(m, flags);
    const now = Date.now();
    const rows = [...state.schedules.values()].map((s) => ({
      name: s.name,
      cron: s.cron,
      tz: s.tz ?? 'UTC',
      catchUp: s.catchUp,
      jitterMs: s.jitterMs,
      target: describeTarget(m, s),
      next: new Date(m.tickSeries(s.cron, s.tz).next(now) ?? NaN).toISOString(),
    }));
    if (flags.json === true) print(JSON.stringify(rows));
    else {
      print(['NAME', 'CRON', 'TZ', 'CATCH-UP', 'JITTER', 'NEXT', 'TARGET'].join('\t'));
      for (const r of rows)
        print([r.name, r.cron, r.tz, r.catchUp, r.jitterMs, r.next, r.target].join('\t'));
    }
  });

  logOptions(cron.command('rm').description('Remove a schedule').argument('<name>')).action(
    async (name: string, flags: CronFlags) => {
      const m = await load();
      const state = await fold(m, flags);
      if (!state.schedules.has(name))
        throw new CronError(`no schedule named ${JSON.stringify(name)}`);
      await appendEvent(m, flags, name, { type: 'schedule/removed', name, at: Date.now() });
      print(`${name}: removed`);
    },
  );

  logOptions(
    cron
      .command('runs')
      .description("A schedule's past and next ticks, each with its workflow CID and status")
      .argument('<name>')
      .option('--past <n>', 'past ticks shown', '10')
      .option('--next <n>', 'next ticks shown', '3')
      .option('--json', 'print JSON'),
  ).action(async (name: string, flags: CronFlags) => {
    const m = await load();
    const state = await fold(m, flags);
    const s = state.schedules.get(name);
    if (s === undefined) throw new CronError(`no schedule named ${JSON.stringify(name)}`);
    const series = m.tickSeries(s.cron, s.tz);
    const now = Date.now();
    const cidOf = (t: number): string | null =>
      'workflow' in s.target
        ? m.tickWorkflow(s.target.workflow, name, t).parsed.cid.toString()
        : null;
    const past = series
      .previous(now, Number(flags.past ?? 10))
      .filter((t) => t > s.at)
      .reverse()
      .map((t) => {
        const workflow = cidOf(t);
        const status = workflow === null ? 'unknown' : (state.status(workflow) ?? 'missed');
        return { tick: new Date(t).toISOString(), workflow, status };
      });
    const next: Array<{ tick: string; workflow: string | null; status: string }> = [];
    for (
      let t = series.next(now);
      t !== null && next.length < Number(flags.next ?? 3);
      t = series.next(t)
    )
      next.push({ tick: new Date(t).toISOString(), workflow: cidOf(t), status: 'next' });
    const rows = [...past, ...next];
    if (flags.json === true) print(JSON.stringify(rows));
    else {
      print(['TICK', 'STATUS', 'WORKFLOW'].join('\t'));
      for (const r of rows) print([r.tick, r.status, r.workflow ?? '-'].join('\t'));
    }
  });
}
