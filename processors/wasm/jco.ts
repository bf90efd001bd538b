// The one place that loads jco. Its import costs ~100 ms, so it is loaded on first use only; a
// running node reaches it through the jco thread (`transpileInJcoThread`), which exits when idle.
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type * as JcoModule from '@bytecodealliance/jco';
import { sibling } from '../sibling.ts';

type JcoApi = typeof JcoModule;

let jcoPromise: Promise<JcoApi> | undefined;

/** jco's API, imported on first use (module loading is process-wide on purpose). */
export function loadJco(): Promise<JcoApi> {
  jcoPromise ??= import('@bytecodealliance/jco');
  return jcoPromise;
}

/** Whether this thread has imported jco (the node's own thread should not have). */
export function jcoLoadedHere(): boolean {
  return jcoPromise !== undefined;
}

/** Options of `jco.transpile` the loader uses. */
export type TranspileOptions = Parameters<JcoApi['transpile']>[1];

/** A component transpiled by jco, with its WIT world as text. */
export interface Transpiled {
  /** Generated files by name: the JS glue (`component.js`) and the core modules (`*.wasm`). */
  files: Record<string, Uint8Array>;
  /** Import specifiers of the glue. */
  imports: string[];
  wit: string;
}

/** A request to the jco thread. */
export type JcoRequest =
  | { id: number; op: 'transpile'; bytes: Uint8Array; options: TranspileOptions }
  | { id: number; op: 'component-new'; bytes: Uint8Array };

/** The jco thread's answer; jco's own error travels as its message. */
export type JcoReply =
  | { id: number; ok: true; transpiled?: Transpiled; component?: Uint8Array }
  | { id: number; ok: false; message: string };

/**
 * How long the jco thread stays after its last request (a burst of new components pays jco's
 * import once), then exits and gives its memory back.
 */
export const JCO_THREAD_IDLE_MS = 2_000;

interface JcoThread {
  worker: Worker;
  pending: Map<number, { resolve: (r: JcoReply) => void; reject: (e: Error) => void }>;
  idle?: NodeJS.Timeout;
}
let thread: JcoThread | undefined;
let nextRequest = 1;

function startThread(): JcoThread {
  const worker = new Worker(sibling(import.meta.url, './jco-thread'));
  const t: JcoThread = { worker, pending: new Map() };
  const lost = (err: Error): void => {
    if (thread === t) thread = undefined;
    clearTimeout(t.idle);
    for (const p of t.pending.values()) p.reject(err);
    t.pending.clear();
  };
  worker.on('message', (reply: JcoReply) => {
    const p = t.pending.get(reply.id);
    if (p === undefined) return;
    t.pending.delete(reply.id);
    if (t.pending.size === 0) {
      worker.unref();
      t.idle = setTimeout(() => {
        if (thread === t) thread = undefined;
        void worker.terminate();
      }, JCO_THREAD_IDLE_MS).unref();
    }
    p.resolve(reply);
  });
  worker.on('error', lost);
  worker.on('exit', (code) => lost(new Error(`the jco thread exited (code ${code})`)));
  return t;
}

/** Whether the jco thread is running (it exits {@link JCO_THREAD_IDLE_MS} after its last request). */
export function jcoThreadRunning(): boolean {
  return thread !== undefined;
}

function ask<T>(req: JcoRequest, pick: (r: JcoReply & { ok: true }) => T | undefined): Promise<T> {
  const t = (thread ??= startThread());
  clearTimeout(t.idle);
  t.worker.ref();
  return new Promise<JcoReply>((resolve, reject) => {
    t.pending.set(req.id, { resolve, reject });
    t.worker.postMessage(req);
  }).then((reply) => {
    if (!reply.ok) throw new Error(reply.message);
    const out = pick(reply);
    if (out === undefined) throw new Error(`the jco thread gave no answer to ${req.op}`);
    return out;
  });
}

/**
 * jco's `transpile` and `componentWit` of a component, run in the jco thread: a worker thread
 * that loads jco, serves requests and exits {@link JCO_THREAD_IDLE_MS} after the last one. jco
 * loaded in the node's thread would stay resident (≈ 60 MiB) for a one-off transpile per module.
 * @throws Error jco's error message (an invalid component)
 */
export function transpileInJcoThread(
  bytes: Uint8Array,
  options: TranspileOptions,
): Promise<Transpiled> {
  return ask({ id: nextRequest++, op: 'transpile', bytes, options }, (r) => r.transpiled);
}

/** jco's `componentNew` (`jco new`) in the jco thread (see {@link transpileInJcoThread}). */
export function componentNewInJcoThread(bytes: Uint8Array): Promise<Uint8Array> {
  return ask({ id: nextRequest++, op: 'component-new', bytes }, (r) => r.component);
}

/**
 * Embed WIT `world` of `witSource` into a core module as component-type metadata
 * (what `jco embed core.wasm --wit world.wit -n world` does).
 */
export async function embedWit(
  core: Uint8Array,
  witSource: string,
  world: string,
): Promise<Uint8Array> {
  const jco = await loadJco();
  return jco.componentEmbed({ binary: core, witSource, world, stringEncoding: 'utf8' });
}

/** Turn a core module carrying component-type metadata into a component (`jco new`). */
export async function newComponent(embedded: Uint8Array): Promise<Uint8Array> {
  const jco = await loadJco();
  return jco.componentNew(embedded);
}

let version: string | undefined;
/**
 * The installed jco's version, read from its package.json without loading jco (a cache key of
 * transpiled glue: a different jco may generate different glue).
 */
export function jcoVersion(): string {
  if (version === undefined) {
    const main = import.meta.resolve('@bytecodealliance/jco');
    const pkg = readFileSync(new URL('../package.json', main), 'utf8');
    version = (JSON.parse(pkg) as { version: string }).version;
  }
  return version;
}
