/**
 * Events of schedules and verification: `schedule/created` and `schedule/removed` on
 * `invocations` (key: the schedule name), `verification/mismatch` on `verification` (key: the
 * instruction CID). Decoded by {@link decodeJobEvent}, which `events.ts` calls for these types.
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import { SchemaError } from './errors.ts';
import { isIpldMap, kindOf, type IpldMap, type IpldValue } from './ipld.ts';

/** What to do with ticks missed while no node was running. */
export type CatchUpPolicy = 'skip' | 'latest' | 'all';

/** The catch-up policies, in documentation order. */
export const CATCH_UP_POLICIES: readonly CatchUpPolicy[] = ['skip', 'latest', 'all'];

/** A replay job a schedule may run instead of a workflow (see `ipvm replay`). */
export interface ReplayJob extends IpldMap {
  /** `tables`: re-index the range into the tables; `verify`: check the range's receipts. */
  into: 'tables' | 'verify';
  /**
   * Where the range starts: an offset, or an ISO time, or `-<ms>` relative to the tick
   * (e.g. `-86400000`: the last day). Null: from the beginning.
   */
  from: string | null;
  /** Where the range ends (exclusive), like {@link ReplayJob.from}; null: the tick. */
  to: string | null;
  /** Only this workflow's events, or null. */
  workflow: string | null;
  /** Fraction of the range's pure tasks re-executed by a `verify` job (0: none). */
  reexecute: number;
}

/** What a tick runs: a workflow (`{tasks}`) or a replay job. */
export type ScheduleTarget = { workflow: IpldValue } | { replay: ReplayJob };

/** A schedule was created, replacing any schedule of the same name. Key: the name. */
export interface ScheduleCreatedEvent {
  type: 'schedule/created';
  name: string;
  /** Cron pattern, 5 fields or 6 with seconds first (croner syntax). */
  cron: string;
  /** IANA time zone of the pattern; null: UTC. */
  tz: string | null;
  catchUp: CatchUpPolicy;
  /** Each tick fires up to this many ms late, by an amount fixed by name and tick. */
  jitterMs: number;
  target: ScheduleTarget;
  at: number;
}

/** A schedule was removed. Key: the name. */
export interface ScheduleRemovedEvent {
  type: 'schedule/removed';
  name: string;
  at: number;
}

/** One execution compared by a verification. */
export interface VerifiedExecution extends IpldMap {
  /** Who produced it: a node id (`node#2` for its second independent execution) or `recorded`. */
  executor: string;
  outcome: 'ok' | 'error';
  /** CID of the output value (DAG-CBOR, sha3-256). */
  output: CID;
}

/** Executions of one instruction disagreed. Key: the instruction CID. */
export interface VerificationMismatchEvent {
  type: 'verification/mismatch';
  /** `optimistic`: N executions before publishing; `reexecute`: a replay job's re-execution. */
  kind: 'optimistic' | 'reexecute';
  /** The instruction, when known. */
  instruction: CID | null;
  /** The recorded receipt a re-execution contradicts, or null. */
  receipt: CID | null;
  rsc: string;
  func: string;
  executions: VerifiedExecution[];
  /** A located, human-readable summary. */
  reason: string;
  at: number;
}

/** The event types of this module. */
export type JobEvent = ScheduleCreatedEvent | ScheduleRemovedEvent | VerificationMismatchEvent;

const str = (m: IpldMap, key: string, path = key): string => {
  const v = m[key];
  if (typeof v !== 'string') throw new SchemaError(path, `expected a string, got ${kindOf(v)}`);
  return v;
};
const strOrNull = (m: IpldMap, key: string, path = key): string | null =>
  m[key] === null || m[key] === undefined ? null : str(m, key, path);
const linkOrNull = (m: IpldMap, key: string, path = key): CID | null => {
  if (m[key] === null || m[key] === undefined) return null;
  const cid = CID.asCID(m[key]);
  if (cid === null) throw new SchemaError(path, `expected a link, got ${kindOf(m[key])}`);
  return cid;
};
const oneOf = <T extends string>(m: IpldMap, key: string, values: readonly T[], path = key): T => {
  const v = str(m, key, path);
  if (!(values as readonly string[]).includes(v))
    throw new SchemaError(path, `expected one of ${values.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
};

function target(value: unknown): ScheduleTarget {
  if (!isIpldMap(value)) throw new SchemaError('target', `expected a map, got ${kindOf(value)}`);
  if ('workflow' in value) {
    if (!isIpldMap(value.workflow))
      throw new SchemaError('target.workflow', `expected a map, got ${kindOf(value.workflow)}`);
    return { workflow: value.workflow };
  }
  const r = value.replay;
  if (!isIpldMap(r)) throw new SchemaError('target', 'expected {workflow} or {replay}');
  const reexecute = r.reexecute ?? 0;
  if (typeof reexecute !== 'number' || !(reexecute >= 0 && reexecute <= 1))
    throw new SchemaError('target.replay.reexecute', 'expected a fraction between 0 and 1');
  return {
    replay: {
      into: oneOf(r, 'into', ['tables', 'verify'] as const, 'target.replay.into'),
      from: strOrNull(r, 'from', 'target.replay.from'),
      to: strOrNull(r, 'to', 'target.replay.to'),
      workflow: strOrNull(r, 'workflow', 'target.replay.workflow'),
      reexecute,
    },
  };
}

/**
 * Decodes the fields of a job event (the envelope's `v`, `type` and `at` already checked).
 * @throws {SchemaError} naming the field
 */
export function decodeJobEvent(m: IpldMap, type: JobEvent['type'], at: number): JobEvent {
  switch (type) {
    case 'schedule/created': {
      const jitterMs = m.jitterMs;
      if (typeof jitterMs !== 'number' || !Number.isSafeInteger(jitterMs) || jitterMs < 0)
        throw new SchemaError('jitterMs', 'expected a non-negative integer');
      return {
        type,
        name: str(m, 'name'),
        cron: str(m, 'cron'),
        tz: strOrNull(m, 'tz'),
        catchUp: oneOf(m, 'catchUp', CATCH_UP_POLICIES),
        jitterMs,
        target: target(m.target),
        at,
      };
    }
    case 'schedule/removed':
      return { type, name: str(m, 'name'), at };
    case 'verification/mismatch': {
      if (!Array.isArray(m.executions))
        throw new SchemaError('executions', `expected a list, got ${kindOf(m.executions)}`);
      const executions = m.executions.map((x, i): VerifiedExecution => {
        const path = `executions[${i}]`;
        if (!isIpldMap(x)) throw new SchemaError(path, `expected a map, got ${kindOf(x)}`);
        const output = linkOrNull(x, 'output', `${path}.output`);
        if (output === null) throw new SchemaError(`${path}.output`, 'expected a link');
        return {
          executor: str(x, 'executor', `${path}.executor`),
          outcome: oneOf(x, 'outcome', ['ok', 'error'] as const, `${path}.outcome`),
          output,
        };
      });
      return {
        type,
        kind: oneOf(m, 'kind', ['optimistic', 'reexecute'] as const),
        instruction: linkOrNull(m, 'instruction'),
        receipt: linkOrNull(m, 'receipt'),
        rsc: str(m, 'rsc'),
        func: str(m, 'func'),
        executions,
        reason: str(m, 'reason'),
        at,
      };
    }
  }
}
