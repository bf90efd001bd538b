// The IPC protocol between a benchmark and this node's child process, and the parent's side.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import {
  DEFAULT_YOUNG_GENERATION_MIB,
  longLivedAdditions,
} from '../../processors/compose/long-lived-process.ts';
import { compiledChild } from './compiled.ts';
import { flag, numberArg } from './report.ts';
import type { RssParts } from './rss-parts.ts';

/** `--import` this in a child run from the sources, as `ipvm` runs them (cli/ts-cache.js). */
const TS_CACHE_REGISTER = join(import.meta.dirname, '..', '..', 'cli', 'ts-cache-register.js');

/** A receipt as either side reports it, reduced to what both sides can be compared on. */
export interface SeenReceipt {
  /** Invocation CID (`ran`). */
  ran: string;
  /** Receipt CID. */
  receipt: string;
  /** Instruction CID, when the side reports it. */
  instruction?: string;
  /** `["ok", value]` or `["error", …]`, as DAG-JSON text (undefined: not known yet). */
  out: string | undefined;
  replayed: boolean;
}

export interface RanWorkflow {
  cid: string;
  /** Submit → workflow end (this node) or → last receipt (peer). */
  ms: number;
  /**
   * CPU time of the process over the same span (this node only; meaningful when one workflow
   * runs at a time — on a loaded machine it varies far less than `ms`).
   */
  cpuMs?: number;
  status: string;
  receipts: SeenReceipt[];
  /** Anything the figure needs said about it. */
  note?: string;
  /** Receipt CIDs in task order, from the end event (this node only). */
  receiptCids?: string[];
}

export type ChildRequest =
  | { id: number; cmd: 'run'; workflows: string[] }
  /**
   * `runs` fresh `n`-task chains one after the other (`add_one` from `start`, `start + 1000`, …);
   * `n = 0` is a one-task workflow whose task is already memoized (submit → end with nothing run).
   * Result: milliseconds per run.
   */
  | {
      id: number;
      cmd: 'latency';
      rsc: string;
      n: number;
      runs: number;
      start: number;
      /** Submit DAG-JSON text (what a client sends) rather than an IPLD value. */
      json?: boolean;
    }
  /** `c` fresh `n`-task chains kept in flight for `seconds`. Result: {@link Throughput}. */
  | {
      id: number;
      cmd: 'throughput';
      rsc: string;
      n: number;
      c: number;
      seconds: number;
      start: number;
      /** Submit DAG-JSON text (what a client sends) rather than an IPLD value. */
      json?: boolean;
    }
  | { id: number; cmd: 'exit' };

export interface Throughput {
  workflows: number;
  seconds: number;
}

export interface ChildReply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
  /** Current and peak RSS of the child after the request, bytes. */
  rss: number;
  peakRss: number;
  /** What the highest RSS the child sampled so far was made of. */
  peakParts?: RssParts;
}

/** Distributes `Omit` over a union, so each request keeps its own fields. */
type Without<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A request's answer: its result, and the child's memory after it (see {@link ChildReply}). */
export type ChildAnswer<T> = { result: T } & Pick<ChildReply, 'rss' | 'peakRss' | 'peakParts'>;

/** The parent's handle on a node child. */
export interface OurNode {
  pid: number;
  request<T>(req: Without<ChildRequest, 'id'>): Promise<ChildAnswer<T>>;
  close(): Promise<void>;
}

/** Runs the child with `--warm-cache`: it opens the node (through the cache), and exits. */
async function warmCache(script: string, args: string[], execArgv: string[]): Promise<void> {
  // (in a data directory of its own: not the one the measured child is given)
  const own = args.flatMap((a, i) =>
    a === '--data-dir' || args[i - 1] === '--data-dir' ? [] : [a],
  );
  const warm = fork(script, [...own, '--warm-cache'], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv,
  });
  const code = await new Promise<number | null>((resolve) => warm.once('exit', resolve));
  if (code !== 0) throw new Error(`node child --warm-cache exited with ${code}`);
}

/** Forks the node child and waits until it has recovered and is processing. */
export async function startOurNode(options: {
  wasm: string[];
  fsync?: string;
  concurrency?: number;
  /** Data directory to use and keep (default: a fresh temp dir, removed on exit). */
  dataDir?: string;
  /** `false`: every component through jco (see the executor's `glueFree`). */
  glueFree?: boolean;
  /** The file log's `pollWhileSyncingMs` (default: the log's). */
  pollWhileSyncingMs?: number;
  /**
   * Run the child compiled to JavaScript, as the installed package runs the node (see
   * compiled.ts) instead of from the TypeScript sources. @default the benchmark's `--compiled`
   */
  compiled?: boolean;
  /**
   * The child's heap growth in percent, 0 for V8's own (see processors/compose/heap-growth.ts).
   * @default the benchmark's `--heap-growth`, else `ipvm start`'s
   */
  heapGrowth?: number;
  /**
   * The child's young generation in MiB, 0 for V8's own (its process is started as `ipvm start`
   * re-executes itself: processors/compose/long-lived-process.ts).
   * @default the benchmark's `--young-generation`, else `ipvm start`'s
   */
  youngGeneration?: number;
}): Promise<OurNode> {
  const args = [
    '--fsync',
    options.fsync ?? 'batch',
    '--concurrency',
    String(options.concurrency ?? 256),
  ];
  for (const w of options.wasm) args.push('--wasm', w);
  if (options.dataDir !== undefined) args.push('--data-dir', options.dataDir);
  if (options.glueFree === false) args.push('--no-glue-free');
  if (options.pollWhileSyncingMs !== undefined)
    args.push('--poll-while-syncing', String(options.pollWhileSyncingMs));
  const heapGrowth = options.heapGrowth ?? numberArg('heap-growth');
  if (heapGrowth !== undefined) args.push('--heap-growth', String(heapGrowth));
  const young =
    options.youngGeneration ?? numberArg('young-generation') ?? DEFAULT_YOUNG_GENERATION_MIB;
  const longLived = longLivedAdditions(young);
  const compiled = options.compiled ?? flag('compiled');
  const script = compiled ? compiledChild() : join(import.meta.dirname, 'our-node-child.ts');
  // The process `ipvm start` re-executes itself into (long-lived-process.ts).
  const execArgv = compiled
    ? [...process.execArgv, ...longLived.execArgv]
    : [...process.execArgv, ...longLived.execArgv, '--import', TS_CACHE_REGISTER];
  const env = { ...process.env, ...longLived.env };
  // From the sources, the stripped modules are read from the clone's cache as a node started
  // before reads them. A module not in it yet (a fresh clone, an edited source) is stripped by
  // a parser that takes ~25 MiB: a child of its own fills the cache first, so the measured
  // child's memory is the node's. (An installed package runs compiled, with no parser at all.)
  if (!compiled) await warmCache(script, args, execArgv);
  const child: ChildProcess = fork(script, args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // From the sources, as `ipvm start` runs in a clone: stripped sources from the cache, not
    // Node's type stripper in the process (cli/ts-cache.js).
    execArgv,
    env,
  });
  const pending = new Map<number, (r: ChildReply) => void>();
  let nextId = 1;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.on('message', (m: ChildReply) => {
    const p = pending.get(m.id);
    pending.delete(m.id);
    p?.(m);
  });
  await new Promise<void>((resolve, reject) => {
    pending.set(0, (r) => (r.ok ? resolve() : reject(new Error(r.error))));
    child.once('exit', (code) =>
      reject(new Error(`node child exited with ${code} before it was ready`)),
    );
  });
  return {
    pid: child.pid!,
    request<T>(req: Without<ChildRequest, 'id'>) {
      const id = nextId++;
      return new Promise<ChildAnswer<T>>((resolve, reject) => {
        pending.set(id, (r) =>
          r.ok
            ? resolve({
                result: r.result as T,
                rss: r.rss,
                peakRss: r.peakRss,
                peakParts: r.peakParts,
              })
            : reject(new Error(r.error)),
        );
        child.send({ ...req, id });
      });
    },
    async close() {
      if (child.exitCode !== null) return;
      const id = nextId++;
      child.send({ id, cmd: 'exit' } satisfies ChildRequest);
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}
