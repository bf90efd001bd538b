/**
 * The API methods behind the `ipvm` command's remote mode and the client library
 * (`ipvm-node/client`): the same answers the CLI computes from an embedded node, served by a
 * running one. Added to the JSON-RPC handler as an {@link RpcExtension}.
 *
 * | method | params | result |
 * |---|---|---|
 * | `ipvm_run` | `[workflow DAG-JSON text, {name?}?]` | `{subscription, workflow, name, tasks}`; then `ipvm_receipts` notifications |
 * | `ipvm_submit` | `[workflow DAG-JSON text, {name?}?]` | `{workflow, name, tasks}` |
 * | `ipvm_receipts` | `[workflow CID]` | a subscription id; then `ipvm_receipts` notifications |
 * | `ipvm_ended` | `[workflow CID]` | a {@link WorkflowEnd}, once the workflow ends |
 * | `ipvm_cancel` | `[workflow CID, {reason?, proofs?}?]` | `{workflow, cancelled: true}` (the end follows); invalid params when it is not running; `ucan` mode: `proofs` must grant `workflow/cancel` on `ipvm:workflow:<cid>`, else -32001 |
 * | `ipvm_status` | `[]` | the workflows in the log (the `ipvm status --json` views) |
 * | `ipvm_watch` | `[{workflow?, from?, follow?}]` | a subscription id; then `ipvm_watch` notifications |
 * | `ipvm_unsubscribe` | `[subscription id]` | `true`, or `false` if unknown |
 * | `ipvm_add` | `[base64 bytes]` | the CID of the bytes stored as UnixFS |
 * | `ipvm_sql` | `[query, {format?, write?}]` (statements that change the tables need `write`) | the result text (`table`, `csv`) or rows (`json`) |
 *
 * A notification's `params.result` is `{receipt: ReceiptLine}`, `{end: WorkflowEnd}` (the
 * subscription is over), `{rejected: Rejection}` (a watch without a workflow: a record of
 * `invocations` the node could not take) or, for a watch that does not follow, `{done: true}`.
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import type { Subscription } from '../rx/index.ts';
import type { ReceiptEvent, NodeEvent } from '../../schemas/events.ts';
import { parseWorkflow, type ParsedWorkflow } from '../../schemas/model.ts';
import type { ReadFrom } from '../../streams/log.ts';
import type { IpvmNode } from '../engine/node.ts';
import type { Logger } from '../logger.ts';
import { cancelOverRpc } from './cancel-rpc.ts';
import { RPC_ERROR, RpcError } from './errors.ts';
import {
  memoLine,
  receiptLine,
  workflowEnd,
  type ReceiptLine,
  type Rejection,
  type WorkflowEnd,
} from './receipt-line.ts';
import type { RpcExtension, RpcSession } from './extension.ts';
import type { WorkflowView } from './workflow-view.ts';
import { badWorkflow, isAuthRefusal } from './rpc.ts';

/** Method names of {@link createFaceMethods}. */
export const FACE_METHODS = {
  run: 'ipvm_run',
  submit: 'ipvm_submit',
  receipts: 'ipvm_receipts',
  ended: 'ipvm_ended',
  cancel: 'ipvm_cancel',
  status: 'ipvm_status',
  watch: 'ipvm_watch',
  unsubscribe: 'ipvm_unsubscribe',
  add: 'ipvm_add',
  sql: 'ipvm_sql',
} as const;

/** A task as `ipvm_submit` describes it. */
export interface SubmittedTask {
  instruction: string;
  func: string;
}

/** What `ipvm_submit` and `ipvm_run` answer. */
export interface Submitted {
  workflow: string;
  name: string | null;
  tasks: SubmittedTask[];
  /** What the node noticed (unknown keys, awaits nothing produces, …). */
  warnings: string[];
}

/** What a subscription sends. */
export type FaceNote =
  { receipt: ReceiptLine } | { end: WorkflowEnd } | { rejected: Rejection } | { done: true };

/** Construction options of {@link createFaceMethods}. */
export interface FaceInit {
  node: IpvmNode;
  /** The workflows in the log, for `ipvm_status`. */
  workflows?: (options: { signal?: AbortSignal }) => Promise<WorkflowView[]>;
  /** Events of the receipt streams and `invocations`, for `ipvm_watch`. */
  events?: (options: {
    from: ReadFrom;
    follow: boolean;
    ends: boolean;
    signal: AbortSignal;
  }) => AsyncIterable<NodeEvent>;
  /** Stores bytes as UnixFS, for `ipvm_add`. */
  add?: (bytes: Uint8Array, options: { signal?: AbortSignal }) => Promise<CID>;
  /** Runs SQL on the node's tables, for `ipvm_sql`. */
  sql?: (
    query: string,
    options: { format: 'table' | 'csv' | 'json'; write?: boolean; signal?: AbortSignal },
  ) => Promise<unknown>;
  /** Counts receipts sent from the memo (the `ipvm_tasks_replayed_total` metric). */
  onReplayedFromMemo?: (count: number) => void;
  logger?: Logger;
}

interface FaceSubscription {
  session: RpcSession;
  method: string;
  abort: AbortController;
  rx?: Subscription;
}

function taskList(parsed: ParsedWorkflow): SubmittedTask[] {
  return parsed.tasks.map((t) => {
    const input = t.task.run.input as { func?: unknown } | null;
    return {
      instruction: t.instruction.toString(),
      func: typeof input?.func === 'string' ? input.func : t.task.run.op,
    };
  });
}

function cidParam(value: unknown, field: string): CID {
  try {
    if (typeof value !== 'string') throw new Error('not a string');
    return CID.parse(value);
  } catch (err) {
    throw new RpcError(RPC_ERROR.invalidParams, `${field}: expected a CID string`, { cause: err });
  }
}

function list(params: unknown): unknown[] {
  return Array.isArray(params) ? params : params === undefined ? [] : [params];
}

function unavailable(method: string): RpcError {
  return new RpcError(RPC_ERROR.methodNotFound, `${method} is not served by this node`);
}

/** Creates the methods. */
export function createFaceMethods(init: FaceInit): RpcExtension {
  const { node } = init;
  const subs = new Map<string, FaceSubscription>();
  /** Workflows submitted through these methods, so their receipts can be filled from the memo. */
  const known = new Map<string, ParsedWorkflow>();
  let nextId = 0;

  const send = (id: string, note: FaceNote): void => {
    const sub = subs.get(id);
    if (sub === undefined || sub.abort.signal.aborted) return;
    sub.session.send(
      JSON.stringify({
        jsonrpc: '2.0',
        method: sub.method,
        params: { subscription: id, result: note },
      }),
    );
  };
  const end = (id: string): boolean => {
    const sub = subs.get(id);
    if (sub === undefined) return false;
    subs.delete(id);
    sub.abort.abort();
    sub.rx?.unsubscribe();
    return true;
  };
  const open = (session: RpcSession, method: string): [string, FaceSubscription] => {
    if (!session.streaming)
      throw new RpcError(RPC_ERROR.methodNotFound, `${method} needs a WebSocket connection`);
    const id = `f${(++nextId).toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const sub: FaceSubscription = { session, method, abort: new AbortController() };
    subs.set(id, sub);
    return [id, sub];
  };

  /** The workflow of `[text, {name?, proofs?}]`, and the UCAN tokens sent beside it. */
  const readSubmission = (params: unknown): [ParsedWorkflow, string[] | undefined] => {
    const [text, opts] = list(params);
    let parsed: ParsedWorkflow;
    try {
      if (typeof text !== 'string')
        throw new RpcError(
          RPC_ERROR.invalidParams,
          'params[0]: expected the workflow as DAG-JSON text',
        );
      parsed = parseWorkflow(text);
    } catch (err) {
      throw err instanceof RpcError ? err : badWorkflow(err);
    }
    const name = (opts as { name?: unknown } | undefined)?.name;
    if (typeof name === 'string' && name !== parsed.name)
      parsed = parseWorkflow({ name, workflow: parsed.workflow } as never);
    known.set(parsed.cid.toString(), parsed);
    if (known.size > 1_024) known.delete(known.keys().next().value!);
    const proofs = (opts as { proofs?: unknown } | undefined)?.proofs;
    if (
      proofs !== undefined &&
      (!Array.isArray(proofs) || proofs.some((t) => typeof t !== 'string'))
    )
      throw new RpcError(RPC_ERROR.invalidParams, 'params[1].proofs: expected a list of tokens');
    return [parsed, proofs as string[] | undefined];
  };

  const submit = async ([parsed, tokens]: [
    ParsedWorkflow,
    string[] | undefined,
  ]): Promise<Submitted> => {
    let warnings: string[];
    try {
      ({ warnings } = await node.submit(
        parsed.name === null
          ? parsed.bytes
          : ({ name: parsed.name, workflow: parsed.workflow } as never),
        {
          proofs:
            tokens === undefined
              ? undefined
              : Object.fromEntries(tokens.map((t, i) => [`#${i}`, t])),
        },
      ));
    } catch (err) {
      if (isAuthRefusal(err))
        throw new RpcError(RPC_ERROR.unauthorized, `not authorized: ${err.message}`, {
          cause: err,
          data: { rule: err.rule, ...err.location, workflow: parsed.cid.toString() },
        });
      const retryable = (err as { retryable?: unknown }).retryable === true;
      throw new RpcError(
        retryable ? RPC_ERROR.serverBusy : RPC_ERROR.internalError,
        `not able to run workflow ${parsed.cid.toString()}: ${(err as Error).message}`,
        { cause: err, retryable },
      );
    }
    return {
      workflow: parsed.cid.toString(),
      name: parsed.name,
      tasks: taskList(parsed),
      warnings,
    };
  };

  /**
   * Sends a workflow's receipts from now on, then — once it ends — those of its tasks not
   * sent yet from the memo (marked replayed, as the embedded `ipvm run` prints them), then the end.
   */
  const follow = (
    id: string,
    sub: FaceSubscription,
    cid: CID,
    submitted: Promise<unknown> = Promise.resolve(),
  ): void => {
    const seen = new Set<string>();
    const onReceipt = (r: ReceiptEvent, replayed: boolean): void => {
      const key = r.instruction.toString();
      if (seen.has(key)) return;
      seen.add(key);
      send(id, { receipt: receiptLine(r, replayed) });
    };
    sub.rx = node.receipts(cid).subscribe((r) => onReceipt(r, r.replayed));
    // After a resubmission is appended, so that its new end is awaited, not the last one.
    submitted
      .then(() => node.ended(cid, { signal: sub.abort.signal }))
      .then(
        (e) => {
          const parsed = known.get(cid.toString());
          let fromMemo = 0;
          for (const t of parsed?.tasks ?? []) {
            const entry = node.memo.get(t.instruction.toString());
            if (entry === undefined || seen.has(t.instruction.toString())) continue;
            fromMemo++;
            seen.add(t.instruction.toString());
            send(id, { receipt: memoLine(entry, cid, t.task.run) });
          }
          if (fromMemo > 0) init.onReplayedFromMemo?.(fromMemo);
          send(id, { end: workflowEnd(e) });
          end(id);
        },
        () => undefined, // unsubscribed first
      );
  };

  const watch = (id: string, sub: FaceSubscription, params: unknown): void => {
    if (init.events === undefined) throw unavailable(FACE_METHODS.watch);
    const o = (list(params)[0] ?? {}) as { workflow?: unknown; from?: unknown; follow?: unknown };
    const workflow =
      o.workflow === undefined || o.workflow === null
        ? undefined
        : cidParam(o.workflow, 'workflow').toString();
    const from = o.from ?? 'latest';
    if (from !== 'earliest' && from !== 'latest' && !(typeof from === 'number' && from >= 0))
      throw new RpcError(RPC_ERROR.invalidParams, 'from: expected earliest, latest or an offset');
    const events = init.events({
      from,
      follow: o.follow !== false,
      ends: workflow !== undefined,
      signal: sub.abort.signal,
    });
    void (async () => {
      try {
        for await (const e of events) {
          if (e.type === 'receipt') {
            if (workflow !== undefined && e.workflow?.toString() !== workflow) continue;
            send(id, { receipt: receiptLine(e, e.replayed) });
          } else if (
            (e.type === 'workflow/completed' || e.type === 'workflow/failed') &&
            e.workflow.toString() === workflow
          ) {
            send(id, { end: workflowEnd(e) });
          } else if (e.type === 'workflow/rejected' && workflow === undefined) {
            const { type: _t, at: _a, ...rejected } = e;
            send(id, { rejected });
          }
        }
        send(id, { done: true });
      } catch (err) {
        if (!sub.abort.signal.aborted) init.logger?.warn({ err }, 'watch stopped');
      } finally {
        end(id);
      }
    })();
  };

  const call = async (method: string, params: unknown, session: RpcSession): Promise<unknown> => {
    switch (method) {
      case FACE_METHODS.submit:
        return submit(readSubmission(params));
      case FACE_METHODS.run: {
        const submission = readSubmission(params);
        const parsed = submission[0];
        const [id, sub] = open(session, FACE_METHODS.receipts);
        // Subscribed before submitting, so no receipt of this run can be missed (a run the memo
        // answers gives its receipts while it is being submitted).
        let submitted!: (p: Promise<unknown>) => void;
        follow(id, sub, parsed.cid, new Promise((resolve) => (submitted = resolve)));
        const submitting = submit(submission);
        submitted(submitting);
        try {
          return { subscription: id, ...(await submitting) };
        } catch (err) {
          end(id);
          throw err;
        }
      }
      case FACE_METHODS.receipts: {
        const cid = cidParam(list(params)[0], 'params[0]');
        const [id, sub] = open(session, FACE_METHODS.receipts);
        follow(id, sub, cid);
        return id;
      }
      case FACE_METHODS.ended: {
        const cid = cidParam(list(params)[0], 'params[0]');
        const abort = new AbortController();
        const sub: FaceSubscription = { session, method, abort };
        const id = `e${(++nextId).toString(36)}`;
        subs.set(id, sub); // ended with the session
        try {
          return workflowEnd(await node.ended(cid, { signal: abort.signal }));
        } finally {
          subs.delete(id);
        }
      }
      case FACE_METHODS.cancel: {
        const [cid, options] = list(params);
        const o = options as { reason?: unknown; proofs?: unknown } | undefined;
        const reason = typeof o?.reason === 'string' ? o.reason : null;
        return cancelOverRpc(node, cid, 'params[0]', reason, {
          value: o?.proofs,
          field: 'params[1].proofs',
        });
      }
      case FACE_METHODS.status:
        if (init.workflows === undefined) throw unavailable(method);
        return init.workflows({ signal: AbortSignal.timeout(60_000) });
      case FACE_METHODS.watch: {
        const [id, sub] = open(session, FACE_METHODS.watch);
        try {
          watch(id, sub, params);
        } catch (err) {
          end(id);
          throw err;
        }
        return id;
      }
      case FACE_METHODS.unsubscribe: {
        const id = list(params)[0];
        if (typeof id !== 'string')
          throw new RpcError(RPC_ERROR.invalidParams, 'expected [subscription id]');
        if (subs.get(id)?.session !== session) return false;
        return end(id);
      }
      case FACE_METHODS.add: {
        if (init.add === undefined) throw unavailable(method);
        const b64 = list(params)[0];
        if (typeof b64 !== 'string')
          throw new RpcError(RPC_ERROR.invalidParams, 'params[0]: expected base64 bytes');
        const cid = await init.add(new Uint8Array(Buffer.from(b64, 'base64')), {});
        return cid.toString();
      }
      case FACE_METHODS.sql: {
        if (init.sql === undefined) throw unavailable(method);
        const [query, opts] = list(params);
        if (typeof query !== 'string' || query.trim() === '')
          throw new RpcError(RPC_ERROR.invalidParams, 'params[0]: expected a SQL statement');
        const format = (opts as { format?: unknown } | undefined)?.format ?? 'table';
        if (format !== 'table' && format !== 'csv' && format !== 'json')
          throw new RpcError(RPC_ERROR.invalidParams, 'format: expected table, csv or json');
        const write = (opts as { write?: unknown } | undefined)?.write === true;
        try {
          return await init.sql(query, { format, write, signal: AbortSignal.timeout(300_000) });
        } catch (err) {
          const e = err as Error & { usage?: boolean; retryable?: boolean };
          throw new RpcError(
            e.retryable === true
              ? RPC_ERROR.serverBusy
              : e.usage === true
                ? RPC_ERROR.invalidParams
                : RPC_ERROR.internalError,
            e.message,
            { cause: err, data: { name: e.name, usage: e.usage === true } },
          );
        }
      }
      default:
        throw new Error('unreachable');
    }
  };

  const names = new Set<string>(Object.values(FACE_METHODS));
  return {
    call: (method, params, session) =>
      names.has(method) ? call(method, params, session) : undefined,
    closeSession(session) {
      for (const [id, sub] of [...subs]) if (sub.session === session) end(id);
    },
    close() {
      for (const id of [...subs.keys()]) end(id);
    },
  };
}
