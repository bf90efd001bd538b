/**
 * The event envelopes that travel on the streams, as DAG-CBOR.
 *
 * | stream | events |
 * |---|---|
 * | `invocations` | {@link WorkflowSubmittedEvent} (or a plain workflow document: see `decodeInvocation` in `submission.ts`), {@link TaskReadyEvent}, {@link WorkflowEndedEvent}, {@link WorkflowRejectedEvent}, {@link WorkflowCancelEvent}, schedules (`job-events.ts`) |
 * | `pure`, `effects.pure` | {@link ReceiptEvent} |
 * | `effects.managed` | {@link EffectIntentEvent} (before the request), {@link ReceiptEvent} (the outcome) |
 * | `dead-letter` | {@link DeadLetterEvent} |
 * | `verification` | `verification/mismatch` (`job-events.ts`) |
 *
 * Every envelope carries `v` (the envelope version, {@link EVENT_VERSION}) and `at` (producer
 * time, ms since the epoch). `at` and other observations (fuel, duration, executor) sit beside
 * the content-addressed objects, never inside them, so receipt CIDs stay deterministic.
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import { dagCbor, encodeOrderedMap, keyOrder, type KeyOrder } from './codecs.ts';
import { decodeJobEvent, type JobEvent } from './job-events.ts';
import { SchemaError } from './errors.ts';
import { isIpldMap, kindOf, type IpldMap, type IpldValue } from './ipld.ts';
import { parseInstruction, parseReceipt, parseTask, WASM_RUN } from './model.ts';
import type { Instruction, Receipt, Task, Workflow } from './types.ts';

/** Envelope version written by this node. */
export const EVENT_VERSION = 1;

/**
 * The envelope field of a record whose large values are stored as blocks and linked
 * (`processors/blocks`): such a record is read with its values put back, never decoded as it is
 * stored.
 */
export const BLOCKS_FIELD = 'ipvm:blocks';

/** A workflow handed to the node. Key: the workflow CID. */
export interface WorkflowSubmittedEvent {
  type: 'workflow/submitted';
  workflow: CID;
  /**
   * The workflow (`{tasks}`), or null when the submission references an earlier record of the
   * same stream that holds it ({@link WorkflowSubmittedEvent.source}): a re-run does not copy
   * its workflow into the log again.
   */
  body: Workflow | null;
  /**
   * With a null body: where the workflow is — the partition and offset of a `workflow/submitted`
   * record of the same workflow, with its body, on this stream — and its number of tasks.
   */
  source?: WorkflowSource;
  /** Optional name from the `{name, workflow}` wrapper. */
  name: string | null;
  /**
   * UCAN proofs supplied with the submission (token CID → token), outside the workflow and so
   * outside its CID. Absent when none were given.
   */
  proofs?: Record<string, string>;
  at: number;
}

/** Where the body of a re-submitted workflow is (see {@link WorkflowSubmittedEvent.source}). */
export interface WorkflowSource {
  partition: number;
  offset: number;
  tasks: number;
}

/** A task whose inputs are all resolved. Key: the instruction CID. */
export interface TaskReadyEvent {
  type: 'task/ready';
  /** The workflow it belongs to, or null for a task submitted alone. */
  workflow: CID | null;
  instruction: CID;
  invocation: CID;
  task: Task;
  /**
   * The instruction's `input.args` with every await replaced by its value; for ops other than
   * `wasm/run` (effects), `[input]` with every await replaced.
   */
  args: IpldValue[];
  at: number;
}

/** A receipt, on `pure` or an `effects.*` stream. Key: the instruction CID. */
export interface ReceiptEvent {
  type: 'receipt';
  instruction: CID;
  invocation: CID;
  /** CID of {@link ReceiptEvent.body}. */
  receipt: CID;
  /** The workflow whose run produced it, or null. */
  workflow: CID | null;
  /** The instruction that ran. */
  run: Instruction;
  body: Receipt;
  /** True when the receipt was found in the memo instead of being computed. */
  replayed: boolean;
  /** Fuel used, when it ran here. */
  fuel: number | null;
  durationMs: number | null;
  /** Id of the node that produced the receipt. */
  executor: string;
  /**
   * Tries it took when retryable failures were retried (absent: the first try settled it). An
   * observation beside the receipt, like fuel: the receipt's own `meta` stays Homestar's.
   */
  attempts?: number;
  /**
   * DID of the node that signed the receipt. It sits beside the receipt, not in it: the
   * receipt's own `iss` stays null, so its CID is the one Homestar computes.
   */
  iss?: string;
  /** Ed25519 signature by {@link ReceiptEvent.iss} over the bytes of the receipt CID. */
  sig?: Uint8Array;
  at: number;
}

/**
 * A managed effect about to be sent (the outbox): appended to `effects.managed`, and durable,
 * before the request goes out; its outcome follows as a {@link ReceiptEvent}. An intent without
 * an outcome is re-sent on recovery, byte for byte, with the same key. Key: the instruction CID.
 */
export interface EffectIntentEvent {
  type: 'effect/intent';
  workflow: CID | null;
  instruction: CID;
  invocation: CID;
  /** The task, so recovery can run it again without its workflow. */
  task: Task;
  /** As in {@link TaskReadyEvent.args}: for effects, `[input]` with every await replaced. */
  args: IpldValue[];
  /** The `Idempotency-Key` the request carries. */
  key: string;
  /**
   * The request exactly as sent, except that secrets stay named: a header value may be
   * `{"secret": NAME}`, and a body naming a secret is `bodyValue` (encoded when sent) with
   * `body` null.
   */
  request: {
    method: string;
    url: string;
    headers: IpldMap;
    body: Uint8Array | null;
    bodyValue?: IpldValue;
  };
  at: number;
}

/** A workflow reached its end. Key: the workflow CID. */
export interface WorkflowEndedEvent {
  type: 'workflow/completed' | 'workflow/failed';
  workflow: CID;
  /** Receipt CIDs in task order. */
  receipts: CID[];
  /** Instruction CIDs of the tasks that failed (empty when completed). */
  failed: CID[];
  /** Why, when failed for a reason other than task errors (e.g. a timeout). */
  reason: string | null;
  /**
   * Tasks of this run answered by receipts an earlier run of the same workflow wrote: they are
   * not written again (the run references them in {@link WorkflowEndedEvent.receipts}).
   * Absent when none.
   */
  replayed?: number;
  at: number;
}

/**
 * A request to cancel a running workflow. The scheduler releases none of its tasks after it;
 * tasks already released finish (their receipts are kept), then the workflow ends `failed` with
 * a reason naming the cancellation. A cancel of a workflow that is not running is folded as
 * nothing. Key: the workflow CID.
 */
export interface WorkflowCancelEvent {
  type: 'workflow/cancel';
  workflow: CID;
  /** Why, as given by whoever cancelled (null when not given). */
  reason: string | null;
  /**
   * UCAN proofs of the right to cancel (token CID → token): in `ucan` mode a chain granting
   * `workflow/cancel` on `ipvm:workflow:<cid>` (see `processors/auth/README.md`).
   */
  proofs?: Record<string, string>;
  at: number;
}

/** A record that could not be decoded or validated. */
export interface DeadLetterEvent {
  type: 'dead-letter';
  /** Stream, partition and offset of the bad record. */
  stream: string;
  partition: number;
  offset: number;
  /** The located error message. */
  reason: string;
  /** The original bytes, untouched. */
  bytes: Uint8Array;
  at: number;
}

/**
 * A record on `invocations` the node could not take (neither an event nor a workflow document),
 * written back on `invocations` under the record's own key so its producer sees why.
 * Key: the rejected record's key.
 */
export interface WorkflowRejectedEvent {
  type: 'workflow/rejected';
  /** The rejected record's key ('' when it had none). */
  key: string;
  /** The located error message. */
  reason: string;
  /** Where the rejected record is. */
  stream: string;
  partition: number;
  offset: number;
  at: number;
}

/** Any event. */
export type NodeEvent =
  | WorkflowSubmittedEvent
  | TaskReadyEvent
  | ReceiptEvent
  | EffectIntentEvent
  | WorkflowEndedEvent
  | DeadLetterEvent
  | WorkflowRejectedEvent
  | WorkflowCancelEvent
  | JobEvent;

/**
 * The arguments of a task none of whose inputs is awaited: `input.args` of a Wasm call, `[input]`
 * for other ops (the same objects).
 */
export function plainArgs(task: Task): IpldValue[] {
  const input = task.run.input;
  if (task.run.op !== WASM_RUN) return [input];
  return isIpldMap(input) && Array.isArray(input.args) ? input.args : [];
}

/** True when a task/ready's args are its task's own (by identity): they are not encoded twice. */
function argsArePlain(event: TaskReadyEvent): boolean {
  const input = event.task.run.input;
  if (event.task.run.op !== WASM_RUN) return event.args.length === 1 && event.args[0] === input;
  return isIpldMap(input) && event.args === input.args;
}

const ENVELOPE = { v: EVENT_VERSION };
const END_ORDER = keyOrder(
  ['type', 'workflow', 'receipts', 'failed', 'reason', 'replayed', 'at'] satisfies Array<
    keyof WorkflowEndedEvent
  >,
  ENVELOPE,
);
/**
 * The envelopes a node writes for every workflow, by type: encoded in their key order (the
 * same bytes as any other way, without sorting their keys each time).
 */
const ORDERS: Partial<Record<NodeEvent['type'], KeyOrder>> = {
  receipt: keyOrder(
    [
      'type',
      'instruction',
      'invocation',
      'receipt',
      'workflow',
      'run',
      'body',
      'replayed',
      'fuel',
      'durationMs',
      'executor',
      'attempts',
      'iss',
      'sig',
      'at',
    ] satisfies Array<keyof ReceiptEvent>,
    ENVELOPE,
  ),
  'workflow/submitted': keyOrder(
    ['type', 'workflow', 'body', 'source', 'name', 'proofs', 'at'] satisfies Array<
      keyof WorkflowSubmittedEvent
    >,
    ENVELOPE,
  ),
  'workflow/completed': END_ORDER,
  'workflow/failed': END_ORDER,
};

/** Encodes an event envelope (DAG-CBOR). */
export function encodeEvent(event: NodeEvent): Uint8Array {
  return encode(event, false);
}

/**
 * {@link encodeEvent} for a record about to be appended, which the log copies: the bytes may
 * share an 8 KiB buffer with other records (cheaper than a buffer each). Kept for long, they
 * would keep that buffer alive: what keeps a record's bytes copies them.
 */
export function encodeEventRecord(event: NodeEvent): Uint8Array {
  return encode(event, true);
}

function encode(event: NodeEvent, shortLived: boolean): Uint8Array {
  if (event.type === 'task/ready' && argsArePlain(event)) {
    // Absent args are the task's own (decodeEvent): a large argument is not written twice.
    const { args: _args, ...rest } = event;
    return dagCbor.encode({ ...ENVELOPE, ...rest });
  }
  const order = ORDERS[event.type];
  if (order !== undefined) return encodeOrderedMap(event as unknown as IpldMap, order, shortLived);
  return dagCbor.encode({ ...ENVELOPE, ...event });
}

function link(map: IpldMap, key: string): CID {
  const cid = CID.asCID(map[key]);
  if (cid === null) throw new SchemaError(key, `expected a link, got ${kindOf(map[key])}`);
  return cid;
}

function linkOrNull(map: IpldMap, key: string): CID | null {
  return map[key] === null || map[key] === undefined ? null : link(map, key);
}

function links(map: IpldMap, key: string): CID[] {
  const v = map[key];
  if (!Array.isArray(v)) throw new SchemaError(key, `expected a list, got ${kindOf(v)}`);
  return v.map((x, i) => {
    const cid = CID.asCID(x);
    if (cid === null) throw new SchemaError(`${key}[${i}]`, 'expected a link');
    return cid;
  });
}

function num(map: IpldMap, key: string): number {
  const v = map[key];
  if (typeof v !== 'number') throw new SchemaError(key, `expected a number, got ${kindOf(v)}`);
  return v;
}

function numOrNull(map: IpldMap, key: string): number | null {
  return map[key] === null || map[key] === undefined ? null : num(map, key);
}

function count(map: IpldMap, key: string, prefix = ''): number {
  const v = map[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new SchemaError(
      `${prefix}${key}`,
      `expected a count, got ${typeof v === 'number' ? String(v) : kindOf(v)}`,
    );
  return v;
}

function str(map: IpldMap, key: string): string {
  const v = map[key];
  if (typeof v !== 'string') throw new SchemaError(key, `expected a string, got ${kindOf(v)}`);
  return v;
}

function bytesField(map: IpldMap, key: string): Uint8Array {
  const v = map[key];
  if (!(v instanceof Uint8Array)) throw new SchemaError(key, `expected bytes, got ${kindOf(v)}`);
  return v;
}

function proofMap(value: IpldValue | undefined): Record<string, string> {
  if (!isIpldMap(value)) throw new SchemaError('proofs', `expected a map, got ${kindOf(value)}`);
  for (const [k, v] of Object.entries(value))
    if (typeof v !== 'string') throw new SchemaError(`proofs.${k}`, 'expected a token string');
  return value as Record<string, string>;
}

/**
 * Decodes and validates an event envelope.
 * @throws {DecodeError} not DAG-CBOR (with the offset)
 * @throws {SchemaError} not a known event (with the field)
 */
export function decodeEvent(bytes: Uint8Array): NodeEvent {
  const m = dagCbor.decode(bytes);
  if (!isIpldMap(m)) throw new SchemaError('', `expected an event map, got ${kindOf(m)}`);
  if (m.v !== EVENT_VERSION)
    throw new SchemaError(
      'v',
      `unsupported event version ${JSON.stringify(m.v ?? null, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x))}`,
    );
  if (m[BLOCKS_FIELD] !== undefined)
    throw new SchemaError(BLOCKS_FIELD, 'its large values were not read back from their blocks');
  const at = num(m, 'at');
  switch (m.type) {
    case 'workflow/submitted': {
      const body = m.body;
      if (body === null) {
        const source = m.source;
        if (!isIpldMap(source))
          throw new SchemaError('source', 'expected {partition, offset, tasks} with a null body');
        return {
          type: m.type,
          workflow: link(m, 'workflow'),
          body: null,
          source: {
            partition: count(source, 'partition', 'source.'),
            offset: count(source, 'offset', 'source.'),
            tasks: count(source, 'tasks', 'source.'),
          },
          name: m.name === null || m.name === undefined ? null : str(m, 'name'),
          ...(m.proofs === undefined ? {} : { proofs: proofMap(m.proofs) }),
          at,
        };
      }
      if (!isIpldMap(body) || !Array.isArray(body.tasks))
        throw new SchemaError('body', 'expected {tasks}');
      return {
        type: m.type,
        workflow: link(m, 'workflow'),
        body: { tasks: body.tasks.map((t, i) => parseTask(t, `body.tasks[${i}]`)) },
        name: m.name === null || m.name === undefined ? null : str(m, 'name'),
        ...(m.proofs === undefined ? {} : { proofs: proofMap(m.proofs) }),
        at,
      };
    }
    case 'task/ready': {
      if (m.args !== undefined && !Array.isArray(m.args))
        throw new SchemaError('args', 'expected a list');
      const task = parseTask(m.task, 'task');
      return {
        type: m.type,
        workflow: linkOrNull(m, 'workflow'),
        instruction: link(m, 'instruction'),
        invocation: link(m, 'invocation'),
        task,
        args: m.args ?? plainArgs(task),
        at,
      };
    }
    case 'receipt':
      if (typeof m.replayed !== 'boolean') throw new SchemaError('replayed', 'expected a boolean');
      return {
        type: m.type,
        instruction: link(m, 'instruction'),
        invocation: link(m, 'invocation'),
        receipt: link(m, 'receipt'),
        workflow: linkOrNull(m, 'workflow'),
        run: parseInstruction(m.run, 'run'),
        body: parseReceipt(m.body, 'body'),
        replayed: m.replayed,
        fuel: numOrNull(m, 'fuel'),
        durationMs: numOrNull(m, 'durationMs'),
        executor: str(m, 'executor'),
        ...(typeof m.attempts === 'number' ? { attempts: m.attempts } : {}),
        ...(m.iss === undefined ? {} : { iss: str(m, 'iss') }),
        ...(m.sig === undefined ? {} : { sig: bytesField(m, 'sig') }),
        at,
      };
    case 'effect/intent': {
      if (!Array.isArray(m.args)) throw new SchemaError('args', 'expected a list');
      const r = m.request;
      if (!isIpldMap(r) || !isIpldMap(r.headers))
        throw new SchemaError('request', 'expected {method, url, headers, body}');
      if (r.body !== null && !(r.body instanceof Uint8Array))
        throw new SchemaError('request.body', 'expected bytes or null');
      return {
        type: m.type,
        workflow: linkOrNull(m, 'workflow'),
        instruction: link(m, 'instruction'),
        invocation: link(m, 'invocation'),
        task: parseTask(m.task, 'task'),
        args: m.args,
        key: str(m, 'key'),
        request: {
          method: str(r, 'method'),
          url: str(r, 'url'),
          headers: r.headers,
          body: r.body,
          ...(r.bodyValue === undefined ? {} : { bodyValue: r.bodyValue }),
        },
        at,
      };
    }
    case 'workflow/completed':
    case 'workflow/failed':
      return {
        type: m.type,
        workflow: link(m, 'workflow'),
        receipts: links(m, 'receipts'),
        failed: links(m, 'failed'),
        reason: m.reason === null || m.reason === undefined ? null : str(m, 'reason'),
        ...(m.replayed === undefined ? {} : { replayed: count(m, 'replayed') }),
        at,
      };
    case 'workflow/cancel':
      return {
        type: m.type,
        workflow: link(m, 'workflow'),
        reason: m.reason === null || m.reason === undefined ? null : str(m, 'reason'),
        ...(m.proofs === undefined ? {} : { proofs: proofMap(m.proofs) }),
        at,
      };
    case 'dead-letter': {
      if (!(m.bytes instanceof Uint8Array)) throw new SchemaError('bytes', 'expected bytes');
      return {
        type: m.type,
        stream: str(m, 'stream'),
        partition: num(m, 'partition'),
        offset: num(m, 'offset'),
        reason: str(m, 'reason'),
        bytes: m.bytes,
        at,
      };
    }
    case 'schedule/created':
    case 'schedule/removed':
    case 'verification/mismatch':
      return decodeJobEvent(m, m.type, at);
    case 'workflow/rejected':
      return {
        type: m.type,
        key: str(m, 'key'),
        reason: str(m, 'reason'),
        stream: str(m, 'stream'),
        partition: num(m, 'partition'),
        offset: num(m, 'offset'),
        at,
      };
    default:
      throw new SchemaError('type', `unknown event type ${JSON.stringify(m.type ?? null)}`);
  }
}
