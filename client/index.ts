/**
 * A client for a running IPVM node, over its JSON-RPC WebSocket API (`ipvm start`; the API
 * is on by default on loopback, and its URL is in the data directory's `node.json`).
 *
 * @example
 * ```ts
 * import { connect } from 'ipvm-node/client';
 * const node = await connect('ws://127.0.0.1:1337');
 * try {
 *   const run = await node.run(await readFile('workflow.json'));
 *   for await (const r of run.receipts) console.log(r.func, r.out);
 *   console.log((await run.ended).status);
 * } finally {
 *   await node.close();
 * }
 * ```
 *
 * @module
 */
import { WebSocket } from 'ws';
import { dagJson } from '../schemas/codecs.ts';
import type { IpldValue } from '../schemas/ipld.ts';
import { parseWorkflow } from '../schemas/model.ts';
import type { ReceiptLine, Rejection, WorkflowEnd } from '../processors/api/receipt-line.ts';
import type { FaceNote, Submitted, SubmittedTask } from '../processors/api/face.ts';
import type { WorkflowView } from '../processors/api/workflow-view.ts';
import type { Cancelled } from '../processors/api/cancel-rpc.ts';
import { NodeConnectionError, NodeRpcError } from './errors.ts';

export { NodeConnectionError, NodeRpcError };
export type {
  Cancelled,
  ReceiptLine,
  Rejection,
  WorkflowEnd,
  Submitted,
  SubmittedTask,
  WorkflowView,
};

/** A workflow: DAG-JSON text, DAG-JSON or DAG-CBOR bytes, or the decoded document. */
export type WorkflowInput = string | Uint8Array | IpldValue;

/** Options of a call. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** Options of a submission. */
export interface SubmitOptions extends CallOptions {
  /** The run's name (else the document's `name`, if it has one). */
  name?: string;
  /** UCAN tokens that prove the right to run its tasks (a node in `--auth ucan` mode needs them). */
  proofs?: readonly string[];
}

/** A workflow submitted with {@link IpvmClient.run}. */
export interface Run extends Submitted {
  /** One receipt per task, as they come; ends when the workflow ends. Iterate once. */
  receipts: AsyncIterable<ReceiptLine>;
  /** How it ended. */
  ended: Promise<WorkflowEnd>;
}

/** What {@link IpvmClient.watch} yields. */
export type WatchItem = { receipt: ReceiptLine } | { end: WorkflowEnd } | { rejected: Rejection };

/** A connection to a node. */
export interface IpvmClient extends AsyncDisposable {
  readonly url: string;
  /** Submits a workflow and follows it: nothing of the run can be missed. */
  run(workflow: WorkflowInput, options?: SubmitOptions): Promise<Run>;
  /** Submits a workflow (appended to the node's `invocations` when it resolves). */
  submit(workflow: WorkflowInput, options?: SubmitOptions): Promise<Submitted>;
  /**
   * A workflow's receipts from now on and, once it ends, those of its tasks from the memo that
   * were not sent; ends with the workflow. (Only workflows submitted through the API are filled
   * from the memo.)
   */
  receipts(workflow: string, options?: CallOptions): AsyncIterable<ReceiptLine>;
  /** Resolves when the workflow ends (at once if it has). */
  ended(workflow: string, options?: CallOptions): Promise<WorkflowEnd>;
  /**
   * Cancels a running workflow: nothing more of it is released, running tasks finish, then it
   * ends `failed` (await {@link IpvmClient.ended}). A {@link NodeRpcError} (invalid params,
   * `data.state` `ended` or `unknown`) when it is not running.
   */
  /**
   * Cancels a running workflow. A node in `ucan` mode needs `proofs`: UCAN tokens granting
   * `workflow/cancel` on `ipvm:workflow:<cid>`.
   */
  cancel(
    workflow: string,
    options?: CallOptions & { reason?: string; proofs?: readonly string[] },
  ): Promise<Cancelled>;
  /** The workflows in the node's log, oldest first (`ipvm status --json`). */
  status(options?: CallOptions): Promise<WorkflowView[]>;
  /** Receipts (and, with `workflow`, its end) from the node's log. */
  watch(
    options?: CallOptions & {
      workflow?: string;
      from?: 'earliest' | 'latest' | number;
      follow?: boolean;
    },
  ): AsyncIterable<WatchItem>;
  /** Stores bytes in the node's content store; resolves with the UnixFS CID. */
  add(bytes: Uint8Array, options?: CallOptions): Promise<string>;
  /** SQL over the node's tables: text for `table`/`csv`, rows for `json`. */
  sql(
    query: string,
    options?: CallOptions & { format?: 'table' | 'csv' | 'json'; write?: boolean },
  ): Promise<unknown>;
  /** Any JSON-RPC method. */
  call(method: string, params?: unknown, options?: CallOptions): Promise<unknown>;
  /** Closes the connection; open calls and subscriptions fail. */
  close(): Promise<void>;
}

/** Options of {@link connect}. */
export interface ConnectOptions extends CallOptions {
  /** Give up connecting after this long. @default 5000 */
  timeoutMs?: number;
}

/** The DAG-JSON text of a workflow, with its name, checked here first (located errors). */
/** The parameters of `ipvm_run` / `ipvm_submit`: the document, and the proofs beside it. */
function submission(text: string, o: SubmitOptions): unknown[] {
  return o.proofs === undefined ? [text] : [text, { proofs: [...o.proofs] }];
}

function workflowText(workflow: WorkflowInput, name?: string): string {
  const parsed = parseWorkflow(workflow);
  const n = name ?? parsed.name;
  return dagJson.stringify(n === null ? parsed.workflow : { name: n, workflow: parsed.workflow });
}

/** A queue of notifications read as an async iterable. */
interface Channel {
  push(note: FaceNote): void;
  fail(err: Error): void;
}

function channel<T>(
  map: (note: FaceNote) => { value?: T; last: boolean },
  onReturn: () => void,
): Channel & AsyncIterable<T> {
  const queue: T[] = [];
  let finished = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  return {
    push(note) {
      if (finished) return;
      const { value, last } = map(note);
      if (value !== undefined) queue.push(value);
      if (last) finished = true;
      wake?.();
    },
    fail(err) {
      if (finished) return;
      failure = err;
      finished = true;
      wake?.();
    },
    async *[Symbol.asyncIterator]() {
      try {
        for (;;) {
          while (queue.length > 0) yield queue.shift()!;
          if (failure !== undefined) throw failure;
          if (finished) return;
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      } finally {
        if (!finished) {
          finished = true;
          onReturn();
        }
      }
    },
  };
}

/** Connects to a node's WebSocket API (`ws://…`; `http://…` is taken as the same address). */
export async function connect(url: string, options: ConnectOptions = {}): Promise<IpvmClient> {
  const wsUrl = url.replace(/^http(s?):/, 'ws$1:');
  const ws = new WebSocket(wsUrl, { maxPayload: 64 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new NodeConnectionError(wsUrl, 'connection timed out'));
    }, options.timeoutMs ?? 5_000);
    const onAbort = (): void => {
      ws.terminate();
      reject(options.signal?.reason as Error);
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    ws.once('open', () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(new NodeConnectionError(wsUrl, `cannot connect (${err.message})`, { cause: err }));
    });
  });

  let nextId = 1;
  let closed: Error | undefined;
  const pending = new Map<
    number,
    { method: string; resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  const channels = new Map<string, Channel>();
  /** Notifications that arrived before the answer naming their subscription. */
  const early = new Map<string, FaceNote[]>();

  ws.on('message', (data: Buffer) => {
    let msg: {
      id?: number;
      result?: unknown;
      error?: { code: number; message: string; data?: unknown };
      method?: string;
      params?: { subscription: string; result: FaceNote };
    };
    try {
      msg = JSON.parse(data.toString('utf8')) as typeof msg;
    } catch {
      return;
    }
    if (msg.method !== undefined && msg.params !== undefined) {
      const { subscription, result } = msg.params;
      const ch = channels.get(subscription);
      if (ch !== undefined) ch.push(result);
      else {
        let list = early.get(subscription);
        if (list === undefined) early.set(subscription, (list = []));
        if (list.length < 100_000) list.push(result);
      }
      return;
    }
    if (typeof msg.id !== 'number') return;
    const p = pending.get(msg.id);
    if (p === undefined) return;
    pending.delete(msg.id);
    if (msg.error !== undefined) p.reject(new NodeRpcError(p.method, msg.error));
    else p.resolve(msg.result);
  });
  const onClose = (): void => {
    closed ??= new NodeConnectionError(wsUrl, 'connection closed');
    for (const p of pending.values()) p.reject(closed);
    pending.clear();
    for (const ch of channels.values()) ch.fail(closed);
    channels.clear();
  };
  ws.on('close', onClose);
  ws.on('error', () => undefined); // 'close' follows

  const call = (method: string, params: unknown = [], o: CallOptions = {}): Promise<unknown> => {
    if (closed !== undefined) return Promise.reject(closed);
    o.signal?.throwIfAborted();
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        pending.delete(id);
        reject(o.signal?.reason as Error);
      };
      o.signal?.addEventListener('abort', onAbort, { once: true });
      pending.set(id, {
        method,
        resolve: (v) => {
          o.signal?.removeEventListener('abort', onAbort);
          resolve(v);
        },
        reject: (e) => {
          o.signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  };

  /** Registers a subscription's channel and hands it what already arrived. */
  const attach = (id: string, ch: Channel, signal?: AbortSignal): void => {
    channels.set(id, ch);
    for (const note of early.get(id) ?? []) ch.push(note);
    early.delete(id);
    signal?.addEventListener(
      'abort',
      () => {
        ch.fail(signal.reason as Error);
        detach(id);
      },
      { once: true },
    );
  };
  const detach = (id: string): void => {
    if (!channels.delete(id) || closed !== undefined) return;
    call('ipvm_unsubscribe', [id]).catch(() => undefined);
  };

  /** A channel of receipts that resolves `end` when the workflow ends. */
  const receiptChannel = (onEnd: (e: WorkflowEnd) => void, unsubscribe: () => void) =>
    channel<ReceiptLine>((note) => {
      if ('receipt' in note) return { value: note.receipt, last: false };
      if ('end' in note) onEnd(note.end);
      return { last: true };
    }, unsubscribe);

  /** An iterable that subscribes when iterated, and unsubscribes when left early. */
  const subscribed = <T>(
    method: string,
    params: unknown[],
    o: CallOptions,
    make: (onReturn: () => void) => Channel & AsyncIterable<T>,
  ): AsyncIterable<T> => ({
    [Symbol.asyncIterator]: () => {
      let subscription = '';
      const ch = make(() => detach(subscription));
      const started = call(method, params, o).then((id) => {
        subscription = id as string;
        attach(subscription, ch, o.signal);
      }, ch.fail.bind(ch));
      const it = ch[Symbol.asyncIterator]();
      return {
        next: async () => {
          await started;
          return it.next();
        },
        return: async () => {
          await started;
          return it.return!();
        },
      };
    },
  });

  const client: IpvmClient = {
    url: wsUrl,
    async run(workflow, o = {}) {
      const text = workflowText(workflow, o.name);
      let resolveEnd!: (e: WorkflowEnd) => void;
      let rejectEnd!: (e: Error) => void;
      const ended = new Promise<WorkflowEnd>((res, rej) => {
        resolveEnd = res;
        rejectEnd = rej;
      });
      ended.catch(() => undefined); // the caller may only iterate
      let subscription = '';
      const ch = receiptChannel(resolveEnd, () => detach(subscription));
      const failEnd = ch.fail.bind(ch);
      ch.fail = (err) => {
        rejectEnd(err);
        failEnd(err);
      };
      const answer = (await call('ipvm_run', submission(text, o), o)) as Submitted & {
        subscription: string;
      };
      subscription = answer.subscription;
      attach(subscription, ch, o.signal);
      const { subscription: _s, ...submitted } = answer;
      return { ...submitted, receipts: ch, ended };
    },
    async submit(workflow, o = {}) {
      return (await call(
        'ipvm_submit',
        submission(workflowText(workflow, o.name), o),
        o,
      )) as Submitted;
    },
    receipts(workflow, o = {}) {
      return subscribed('ipvm_receipts', [workflow], o, (onReturn) =>
        receiptChannel(() => undefined, onReturn),
      );
    },
    async ended(workflow, o = {}) {
      return (await call('ipvm_ended', [workflow], o)) as WorkflowEnd;
    },
    async cancel(workflow, o = {}) {
      const extra = {
        ...(o.reason === undefined ? {} : { reason: o.reason }),
        ...(o.proofs === undefined ? {} : { proofs: [...o.proofs] }),
      };
      const params = Object.keys(extra).length === 0 ? [workflow] : [workflow, extra];
      return (await call('ipvm_cancel', params, o)) as Cancelled;
    },
    async status(o = {}) {
      return (await call('ipvm_status', [], o)) as WorkflowView[];
    },
    watch(o = {}) {
      const params = { workflow: o.workflow, from: o.from ?? 'latest', follow: o.follow ?? true };
      return subscribed('ipvm_watch', [params], o, (onReturn) =>
        channel<WatchItem>(
          (note) => ('done' in note ? { last: true } : { value: note, last: false }),
          onReturn,
        ),
      );
    },
    async add(bytes, o = {}) {
      return (await call('ipvm_add', [Buffer.from(bytes).toString('base64')], o)) as string;
    },
    sql(query, o = {}) {
      return call('ipvm_sql', [query, { format: o.format ?? 'table', write: o.write === true }], o);
    },
    call,
    async close() {
      if (ws.readyState === ws.CLOSED) return;
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(1000);
        setTimeout(() => {
          ws.terminate();
          resolve();
        }, 1_000).unref();
      });
      onClose();
    },
    [Symbol.asyncDispose]() {
      return client.close();
    },
  };
  return client;
}
