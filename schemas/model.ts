/**
 * Validation of untrusted values into the typed model, Homestar's normalisation, and CIDs.
 *
 * Every check names the path and the reason (`tasks[1].run.input.args[0]: await link is not a
 * CID`); nothing is fixed silently, except what Homestar itself normalises (and therefore covers
 * with its CIDs): a missing `nnc` is `""`, a `cause` that is not a link is `null`.
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import { composeList, composeMap } from './compose.ts';
import { cidOfBytes, DEFAULT_HASHER, type SyncHasher } from './cid.ts';
import { dagCbor, decodeAuto, rememberEncoding, type DecodeLimits } from './codecs.ts';
import { SchemaError, WorkflowError } from './errors.ts';
import { readPlacement } from './placement.ts';
import { asNumber, isIpldMap, kindOf, type IpldMap, type IpldValue } from './ipld.ts';
import { attached } from './attached.ts';
import type {
  Await,
  AwaitSelector,
  Instruction,
  Nonce,
  Receipt,
  Task,
  TaskLimits,
  Workflow,
} from './types.ts';

/** The `await/…` keys. */
export const AWAIT_SELECTORS: readonly AwaitSelector[] = ['await/ok', 'await/error', 'await/*'];

/** The operation of Wasm function calls. */
export const WASM_RUN = 'wasm/run';

// ---------------------------------------------------------------------------------------------
// Small checks

function expectMap(value: unknown, path: string): IpldMap {
  if (!isIpldMap(value)) throw new SchemaError(path, `expected a map, got ${kindOf(value)}`);
  return value;
}

function expectString(value: unknown, path: string): string {
  if (typeof value !== 'string')
    throw new SchemaError(path, `expected a string, got ${kindOf(value)}`);
  return value;
}

function expectLinks(value: unknown, path: string): CID[] {
  if (value === undefined) return [];
  if (!Array.isArray(value))
    throw new SchemaError(path, `expected a list of links, got ${kindOf(value)}`);
  return value.map((v, i) => {
    const cid = CID.asCID(v);
    if (cid === null) throw new SchemaError(`${path}[${i}]`, `expected a link, got ${kindOf(v)}`);
    return cid;
  });
}

/** Keys longer than this are abbreviated in paths, so a hostile key cannot make a huge message. */
const MAX_KEY_IN_PATH = 64;

function shortKey(key: string): string {
  return key.length <= MAX_KEY_IN_PATH ? key : `${key.slice(0, 32)}…(${key.length} chars)`;
}

function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  const k = shortKey(key);
  return path === '' ? k : `${path}.${k}`;
}

// ---------------------------------------------------------------------------------------------
// Awaits

/**
 * Reads an `{"await/…": link}` promise, or returns null when the value is not one.
 * A map with an `await/…` key that is not a well-formed promise is an error, not data.
 */
export function readAwait(value: unknown, path: string): Await | null {
  if (!isIpldMap(value)) return null;
  const keys = Object.keys(value);
  const selector = keys.find((k) => k.startsWith('await/'));
  if (selector === undefined) return null;
  if (!(AWAIT_SELECTORS as readonly string[]).includes(selector)) {
    throw new SchemaError(
      join(path, selector),
      `unknown await selector (expected ${AWAIT_SELECTORS.join(', ')})`,
    );
  }
  if (keys.length !== 1) {
    throw new SchemaError(
      path,
      `an await must have exactly one key, found ${keys.map(shortKey).join(', ')}`,
    );
  }
  const cid = CID.asCID(value[selector]);
  if (cid === null) {
    throw new SchemaError(path, `await link is not a CID (got ${kindOf(value[selector])})`);
  }
  return { selector: selector as AwaitSelector, instruction: cid };
}

/** Every promise found anywhere in a value, with its path. */
export function findAwaits(
  value: unknown,
  path: string,
  out: Array<Await & { path: string }> = [],
): Array<Await & { path: string }> {
  // Iterative walk: inputs can be deep and wide.
  const stack: Array<[unknown, string]> = [[value, path]];
  while (stack.length > 0) {
    const [v, p] = stack.pop()!;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push([v[i], `${p}[${i}]`]);
    } else if (isIpldMap(v)) {
      const promise = readAwait(v, p);
      if (promise !== null) {
        out.push({ ...promise, path: p });
        continue;
      }
      const keys = Object.keys(v);
      for (let i = keys.length - 1; i >= 0; i--) stack.push([v[keys[i]!], join(p, keys[i]!)]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Instruction, task, receipt

/** Parses and normalises an instruction. */
export function parseInstruction(value: unknown, path = ''): Instruction {
  return readInstruction(value, path, []);
}

/**
 * Resource URIs found valid. The check is a function of the string alone, and most tasks name
 * one of a few modules: parsing the CID in `ipfs://<cid>` again for each was 1.5% of the CPU
 * a single-step workflow costs. Bounded: cleared when full.
 */
const validRsc = new Set<string>();
const VALID_RSC_MAX = 1024;

function checkRsc(rsc: string, path: string): void {
  if (validRsc.has(rsc)) return;
  if (rsc.startsWith('ipfs://')) {
    try {
      CID.parse(rsc.slice('ipfs://'.length));
    } catch (err) {
      throw new SchemaError(path, `not a CID after ipfs://: ${(err as Error).message}`, {
        cause: err,
      });
    }
  } else if (!/^[a-z][a-z0-9+.-]*:/i.test(rsc)) {
    throw new SchemaError(path, 'expected a URI such as ipfs://<cid>');
  }
  if (validRsc.size >= VALID_RSC_MAX) validRsc.clear();
  validRsc.add(rsc);
}

/** {@link parseInstruction}, collecting the promises it validates into `awaits`. */
function readInstruction(
  value: unknown,
  path: string,
  awaits: Array<Await & { path: string }>,
): Instruction {
  const map = expectMap(value, path);
  const rsc = expectString(map.rsc, join(path, 'rsc'));
  const op = expectString(map.op, join(path, 'op'));
  if (op === '') throw new SchemaError(join(path, 'op'), 'must not be empty');
  checkRsc(rsc, join(path, 'rsc'));
  if (!('input' in map)) throw new SchemaError(join(path, 'input'), 'missing');
  const input = map.input!;
  if (op === WASM_RUN) {
    const inputPath = join(path, 'input');
    const inputMap = expectMap(input, inputPath);
    const func = expectString(inputMap.func, join(inputPath, 'func'));
    if (func === '') throw new SchemaError(join(inputPath, 'func'), 'must not be empty');
    if (!Array.isArray(inputMap.args)) {
      throw new SchemaError(
        join(inputPath, 'args'),
        `expected a list, got ${kindOf(inputMap.args)}`,
      );
    }
  }
  findAwaits(input, join(path, 'input'), awaits); // validates every promise
  return { rsc, op, input, nnc: parseNonce(map.nnc, join(path, 'nnc')) };
}

/** Reads a nonce: missing → `""`; strings and 12/16-byte values kept as given. */
export function parseNonce(value: unknown, path: string): Nonce {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) {
    if (value.length !== 12 && value.length !== 16) {
      throw new SchemaError(path, `nonce bytes must be 12 or 16 long, got ${value.length}`);
    }
    return value;
  }
  throw new SchemaError(path, `expected a string or bytes, got ${kindOf(value)}`);
}

/** Reads resource limits from task metadata; ignores other keys. */
export function readLimits(meta: unknown, path = 'meta'): TaskLimits {
  const limits: TaskLimits = {};
  if (!isIpldMap(meta)) return limits;
  for (const key of ['fuel', 'memory', 'time'] as const) {
    if (!(key in meta)) continue;
    const n = asNumber(meta[key]);
    if (n === undefined || !(n >= 0)) {
      throw new SchemaError(
        join(path, key),
        `expected a non-negative number, got ${kindOf(meta[key])}`,
      );
    }
    limits[key] = n;
  }
  return limits;
}

/** Parses and normalises a task. */
export function parseTask(value: unknown, path = ''): Task {
  return readTask(value, path, { awaits: [], limits: {} });
}

/** What {@link readTask} finds on the way, so parseWorkflow does not walk the task again. */
interface TaskFindings {
  awaits: Array<Await & { path: string }>;
  limits: TaskLimits;
}

function readTask(value: unknown, path: string, found: TaskFindings): Task {
  const map = expectMap(value, path);
  const runPath = join(path, 'run');
  if (CID.asCID(map.run) !== null) {
    throw new SchemaError(
      runPath,
      'instructions by reference are not supported: inline the instruction',
    );
  }
  const run = readInstruction(map.run, runPath, found.awaits);
  const cause = CID.asCID(map.cause) ?? null;
  const meta = map.meta === undefined ? {} : map.meta;
  found.limits = readLimits(meta, join(path, 'meta'));
  readPlacement(meta, join(path, 'meta')); // validated here: a bad one refuses the submission
  return { run, cause, meta, prf: expectLinks(map.prf, join(path, 'prf')) };
}

/**
 * The key of a CID in maps of CIDs: its text, which the engine asks for anyway (a sha3-256
 * dag-cbor CID keeps it: compact-cid.ts).
 */
function cidKey(cid: CID): string {
  return cid.toString();
}

/** Parses a receipt. */
export function parseReceipt(value: unknown, path = ''): Receipt {
  const map = expectMap(value, path);
  const ran = CID.asCID(map.ran);
  if (ran === null)
    throw new SchemaError(join(path, 'ran'), `expected a link, got ${kindOf(map.ran)}`);
  const out = map.out;
  if (!Array.isArray(out) || out.length !== 2 || (out[0] !== 'ok' && out[0] !== 'error')) {
    throw new SchemaError(join(path, 'out'), 'expected ["ok" | "error", value]');
  }
  const iss =
    map.iss === undefined || map.iss === null ? null : expectString(map.iss, join(path, 'iss'));
  return {
    ran,
    out: [out[0], out[1]!] as Receipt['out'],
    meta: map.meta ?? null,
    iss,
    prf: expectLinks(map.prf, join(path, 'prf')),
  };
}

/** The IPLD form of an instruction (Homestar's field set). */
export function instructionValue(i: Instruction): IpldMap {
  return { rsc: i.rsc, op: i.op, input: i.input, nnc: i.nnc };
}

const CBOR_NULL = Uint8Array.of(0xf6);
const CBOR_EMPTY_LIST = Uint8Array.of(0x80);

/** Encoded bytes of a task, composed from its already-encoded instruction. */
export function encodeTask(task: Task, instructionBytes: Uint8Array): Uint8Array {
  // (in DAG-CBOR's key order: shorter keys first)
  return composeMap([
    ['prf', task.prf.length === 0 ? CBOR_EMPTY_LIST : dagCbor.encode(task.prf)],
    ['run', instructionBytes],
    ['meta', dagCbor.encode(task.meta)],
    ['cause', task.cause === null ? CBOR_NULL : dagCbor.encode(task.cause)],
  ]);
}

/** Encoded bytes of `{task}` (an invocation), composed from the task's bytes. */
export function encodeInvocation(taskBytes: Uint8Array): Uint8Array {
  return composeMap([['task', taskBytes]]);
}

/** `{"task": …}`'s head and key, in DAG-CBOR. */
const TASK_KEY = Uint8Array.of(0xa1, 0x64, 0x74, 0x61, 0x73, 0x6b);
/** `{"tasks": …}`'s head and key, in DAG-CBOR. */
const TASKS_KEY = Uint8Array.of(0xa1, 0x65, 0x74, 0x61, 0x73, 0x6b, 0x73);
/**
 * Invocations are hashed by the default hasher from here, not from bytes of their own (only
 * the CID is kept; the default hasher keeps nothing of its input, which a hasher plugged in
 * might).
 */
let invocationScratch = new Uint8Array(4096);
const SCRATCH_MAX = 1 << 20;

/** The CID of `{task}`, the task given as its bytes ({@link encodeInvocation}'s CID). */
function invocationCid(taskBytes: Uint8Array, hasher: SyncHasher): CID {
  const n = TASK_KEY.length + taskBytes.length;
  if (hasher !== DEFAULT_HASHER || n > SCRATCH_MAX)
    return cidOfBytes(encodeInvocation(taskBytes), hasher);
  if (n > invocationScratch.length) {
    let size = invocationScratch.length * 2;
    while (size < n) size *= 2;
    invocationScratch = new Uint8Array(size);
  }
  invocationScratch.set(TASK_KEY);
  invocationScratch.set(taskBytes, TASK_KEY.length);
  return cidOfBytes(invocationScratch.subarray(0, n), hasher);
}

/** A receipt with its bytes, its CID and its output's encoding. */
export interface ReceiptBlock {
  receipt: Receipt;
  bytes: Uint8Array;
  cid: CID;
  /** DAG-CBOR of the output value (the second item of `out`). */
  outputBytes: Uint8Array;
  /**
   * CID of {@link ReceiptBlock.outputBytes}, hashed when read (the engine does not need it: an
   * image's output would cost a hash of its bytes per receipt).
   */
  readonly outputCid: CID;
}

const CBOR_OK = dagCbor.encode('ok');
const CBOR_ERROR = dagCbor.encode('error');

/** Encodes a receipt once, composing it from its output's bytes. */
export function encodeReceipt(receipt: Receipt, hasher: SyncHasher = DEFAULT_HASHER): ReceiptBlock {
  const outputBytes = dagCbor.encode(receipt.out[1]);
  const tag = receipt.out[0];
  // (in DAG-CBOR's key order: shorter keys first, then bytewise)
  const bytes = composeMap([
    ['iss', receipt.iss === null ? CBOR_NULL : dagCbor.encode(receipt.iss)],
    [
      'out',
      composeList([
        tag === 'ok' ? CBOR_OK : tag === 'error' ? CBOR_ERROR : dagCbor.encode(tag),
        outputBytes,
      ]),
    ],
    [
      'prf',
      Array.isArray(receipt.prf) && receipt.prf.length === 0
        ? CBOR_EMPTY_LIST
        : dagCbor.encode(receipt.prf),
    ],
    ['ran', dagCbor.encode(receipt.ran)],
    ['meta', dagCbor.encode(receipt.meta)],
  ]);
  return {
    receipt,
    bytes,
    cid: cidOfBytes(bytes, hasher),
    outputBytes,
    get outputCid() {
      return cidOfBytes(outputBytes, hasher);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Workflows

/** One task of a parsed workflow with everything the engine needs to address it. */
export interface ParsedTask {
  /** Position in `tasks`. */
  index: number;
  task: Task;
  /** The memo key. */
  instruction: CID;
  instructionBytes: Uint8Array;
  /** CID of the task (computed when read). */
  readonly taskCid: CID;
  /** CID of `{task}`: what receipts point at with `ran`. */
  invocation: CID;
  /** Every promise in the input, in order of appearance. */
  awaits: Array<Await & { path: string }>;
  /** Indices of the tasks in this workflow it awaits (deduplicated). */
  dependsOn: number[];
  /** Limits read from `meta`. */
  limits: TaskLimits;
}

/** A parsed task: the task's own CID is hashed when asked for (only `ipvm inspect` shows it). */
class Parsed implements ParsedTask {
  index: number;
  task: Task;
  instruction: CID;
  instructionBytes: Uint8Array;
  invocation: CID;
  awaits: Array<Await & { path: string }>;
  dependsOn: number[] = [];
  limits: TaskLimits;
  readonly #hasher: SyncHasher;

  constructor(
    index: number,
    task: Task,
    instruction: CID,
    instructionBytes: Uint8Array,
    invocation: CID,
    awaits: Array<Await & { path: string }>,
    limits: TaskLimits,
    hasher: SyncHasher,
  ) {
    this.index = index;
    this.task = task;
    this.instruction = instruction;
    this.instructionBytes = instructionBytes;
    this.invocation = invocation;
    this.awaits = awaits;
    this.limits = limits;
    this.#hasher = hasher;
  }

  get taskCid(): CID {
    return cidOfBytes(encodeTask(this.task, this.instructionBytes), this.#hasher);
  }
}

/** A validated workflow. */
export interface ParsedWorkflow {
  /** CID of `{tasks}`. */
  cid: CID;
  /** DAG-CBOR of `{tasks}`. */
  bytes: Uint8Array;
  workflow: Workflow;
  /** The name from a `{name, workflow}` wrapper, if there was one. */
  name: string | null;
  tasks: ParsedTask[];
  /** Promises on instructions outside this workflow (resolved from existing receipts). */
  external: Array<Await & { path: string; task: number }>;
  /** Task indices in an order where every task comes after those it awaits. */
  order: number[];
  /** Things Homestar would accept but drop (unknown keys): they are not part of any CID. */
  warnings: string[];
}

/** Options of {@link parseWorkflow}. */
export interface ParseWorkflowOptions extends DecodeLimits {
  /** @default sha3_256 */
  hasher?: SyncHasher;
}

const INSTRUCTION_KEYS = new Set(['rsc', 'op', 'input', 'nnc']);
const TASK_KEYS = new Set(['run', 'cause', 'meta', 'prf']);

/**
 * Parses a workflow from DAG-JSON text, DAG-CBOR bytes (either possibly wrapped as
 * `{name, workflow}`) or an already-decoded value. Rejects cycles and duplicate instructions;
 * reports awaits that point outside the workflow in {@link ParsedWorkflow.external}.
 *
 * @throws {DecodeError} bytes that are neither DAG-JSON nor DAG-CBOR (with the offset)
 * @throws {SchemaError} a value of the wrong shape (with the path)
 * @throws {WorkflowError} a cycle or a duplicate instruction
 */
export function parseWorkflow(
  input: Uint8Array | string | IpldValue,
  options: ParseWorkflowOptions = {},
): ParsedWorkflow {
  const hasher = options.hasher ?? DEFAULT_HASHER;
  let value: unknown = input;
  if (typeof input === 'string') value = decodeAuto(new TextEncoder().encode(input), options).value;
  else if (input instanceof Uint8Array) value = decodeAuto(input, options).value;

  let root = expectMap(value, '');
  let name: string | null = null;
  let base = '';
  if (!('tasks' in root) && 'workflow' in root) {
    if (root.name !== undefined) name = expectString(root.name, 'name');
    base = 'workflow';
    root = expectMap(root.workflow, base);
  }
  const tasksPath = join(base, 'tasks');
  if (!Array.isArray(root.tasks)) {
    throw new SchemaError(tasksPath, `expected a list of tasks, got ${kindOf(root.tasks)}`);
  }
  if (root.tasks.length === 0)
    throw new SchemaError(tasksPath, 'a workflow needs at least one task');

  const warnings: string[] = [];
  const tasks: ParsedTask[] = [];
  const byInstruction = new Map<string, number>();
  const taskBytes: Uint8Array[] = [];
  root.tasks.forEach((raw, index) => {
    const path = `${tasksPath}[${index}]`;
    const found: TaskFindings = { awaits: [], limits: {} };
    const task = readTask(raw, path, found);
    for (const k of Object.keys(raw as IpldMap)) {
      if (!TASK_KEYS.has(k))
        warnings.push(`${join(path, k)}: unknown key, not part of the task's CID`);
    }
    for (const k of Object.keys((raw as IpldMap).run as IpldMap)) {
      if (!INSTRUCTION_KEYS.has(k))
        warnings.push(`${join(`${path}.run`, k)}: unknown key, not part of the instruction's CID`);
    }
    // (readTask's instruction has Homestar's field set and nothing else: instructionValue's)
    const instructionBytes = dagCbor.encode(task.run);
    // A receipt event holds its instruction: it copies these bytes rather than encoding it again.
    rememberEncoding(task.run, instructionBytes);
    const instruction = cidOfBytes(instructionBytes, hasher);
    const key = cidKey(instruction);
    const first = byInstruction.get(key);
    if (first !== undefined) {
      throw new WorkflowError(
        path,
        `duplicate instruction ${instruction.toString()} (same as ${tasksPath}[${first}]); add a nonce to run it twice`,
      );
    }
    byInstruction.set(key, index);
    const bytes = encodeTask(task, instructionBytes);
    taskBytes.push(bytes);
    tasks.push(
      new Parsed(
        index,
        task,
        instruction,
        instructionBytes,
        invocationCid(bytes, hasher),
        found.awaits,
        found.limits,
        hasher,
      ),
    );
  });

  const external: ParsedWorkflow['external'] = [];
  for (const t of tasks) {
    const deps = new Set<number>();
    for (const a of t.awaits) {
      const dep = byInstruction.get(cidKey(a.instruction));
      if (dep === undefined) external.push({ ...a, task: t.index });
      else deps.add(dep);
    }
    t.dependsOn = [...deps];
  }
  const order = topologicalOrder(
    tasks.map((t) => t.dependsOn),
    tasksPath,
  );

  const bytes = composeList(taskBytes, TASKS_KEY); // {"tasks": [...]}
  const workflow: Workflow = { tasks: tasks.map((t) => t.task) };
  // Its submission event copies these bytes rather than encoding the tasks again.
  rememberEncoding(workflow, bytes);
  const parsed: ParsedWorkflow = {
    cid: cidOfBytes(bytes, hasher),
    bytes,
    workflow,
    name,
    tasks,
    external,
    order,
    warnings,
  };
  PARSED.set(parsed, true);
  return parsed;
}

/**
 * What {@link parseWorkflow} returned (not a look-alike built elsewhere, nor a copy): marked on
 * the parse itself, not in a `WeakSet` (see `attached.ts`).
 */
const PARSED = attached<true>('parsed workflow');

/** True for a value {@link parseWorkflow} returned, so a caller need not parse it again. */
export function isParsedWorkflow(value: unknown): value is ParsedWorkflow {
  return typeof value === 'object' && value !== null && PARSED.has(value);
}

/**
 * Kahn's algorithm over "task i awaits tasks deps[i]".
 * @throws {WorkflowError} naming the tasks on a cycle
 */
export function topologicalOrder(deps: readonly number[][], path = 'tasks'): number[] {
  const n = deps.length;
  const indegree = new Array<number>(n).fill(0);
  const dependents: number[][] = Array.from({ length: n }, () => []);
  deps.forEach((ds, i) => {
    for (const d of ds) {
      if (d === i) throw new WorkflowError(`${path}[${i}]`, 'the task awaits itself');
      indegree[i]! += 1;
      dependents[d]!.push(i);
    }
  });
  const ready: number[] = [];
  indegree.forEach((deg, i) => deg === 0 && ready.push(i));
  const order: number[] = [];
  for (let head = 0; head < ready.length; head++) {
    const i = ready[head]!;
    order.push(i);
    for (const j of dependents[i]!) if (--indegree[j]! === 0) ready.push(j);
  }
  if (order.length < n) {
    const stuck = indegree.flatMap((deg, i) => (deg > 0 ? [`${path}[${i}]`] : []));
    throw new WorkflowError(path, `cycle among ${stuck.join(', ')}`);
  }
  return order;
}
