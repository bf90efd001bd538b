/**
 * The console's JSON-RPC methods, served by the API beside Homestar's (see `rpc.ts`). Reads
 * come from the {@link ConsoleModel}; actions (submit, re-run, cancel) change the node and are refused
 * unless the API was started with `actions: true` (`ipvm start --console-actions`).
 *
 * | method | params | result |
 * |---|---|---|
 * | `console_workflows` | `{status?, name?, limit?}` | workflow summaries, newest first |
 * | `console_workflow` | `{cid}` | summary, tasks (state, kind, awaits) and their layout |
 * | `console_task` | `{workflow, index}` | instruction, arguments with awaits resolved, receipt, output, error |
 * | `console_node` | — | streams, lag, memo, task rates, executor use, dead letters |
 * | `console_memo_search` | `{query}` | memo hits by instruction / receipt / output CID or function |
 * | `console_subscribe` | — | subscription id; then `console_subscribe` notifications (WebSocket) |
 * | `console_unsubscribe` | `[id]` | true when it ended a subscription |
 * | `console_submit` | `{workflow, name?}` | the submitted workflow's CID (actions only) |
 * | `console_rerun` | `{cid, mode: "replay" \| "nonce"}` | the new run's CID (actions only) |
 * | `console_cancel` | `{cid, reason?, proofs?}` | `{workflow, cancelled: true}`; the run ends `failed` (actions only; `ucan` mode: `proofs` as for `ipvm_cancel`) |
 *
 * Notifications are coalesced: at most one every {@link NOTIFY_INTERVAL_MS}, carrying the
 * summaries of the workflows that changed and the new states of the tasks that changed.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { dagJson } from '../../schemas/codecs.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { layoutDag } from '../dag-layout.ts';
import type { ConsumerLag } from '../metrics.ts';
import type { IpvmNode } from '../engine/node.ts';
import type { TableStore } from '../tables/table-store.ts';
import { cancelOverRpc } from './cancel-rpc.ts';
import { withFreshNonces } from './console-actions.ts';
import type { ConsoleModel, TaskState } from './console-model.ts';
import { createMemoSearch, SearchQueryError } from './console-search.ts';
import { jsonText, resolveAwaits, valueView } from './console-views.ts';
import { RPC_ERROR, RpcError } from './errors.ts';
import type { RpcExtension, RpcSession } from './extension.ts';
import { CONSOLE_METHODS } from './console-openrpc.ts';

/** @default 250 */
export const NOTIFY_INTERVAL_MS = 250;

/** JSON-RPC error code of an action the console is not allowed to take. */
export const CONSOLE_FORBIDDEN = -32003;

/** Construction options of {@link createConsoleRpc}. */
export interface ConsoleRpcInit {
  node: IpvmNode;
  model: ConsoleModel;
  /** Allow submit and re-run. @default false */
  actions?: boolean;
  /** Consumer lag, for the node page. */
  lag?: () => Promise<ConsumerLag[]>;
  /** Tasks the executor runs at once (for its use). */
  concurrency?: number;
  /** The tables, when indexed: memo search reads them. */
  tables?: TableStore;
}

/** The console's methods, plugged into the RPC handler as one of its extensions. */
export interface ConsoleRpc extends RpcExtension {
  /** Ends the subscriptions of a closed session. */
  closeSession(session: RpcSession): void;
  close(): void;
}

const METHODS = [
  'console_workflows',
  'console_workflow',
  'console_task',
  'console_node',
  'console_memo_search',
  'console_subscribe',
  'console_unsubscribe',
  'console_submit',
  'console_rerun',
  'console_cancel',
] as const;

function paramObject(params: unknown): Record<string, unknown> {
  const p = Array.isArray(params) ? (params[0] as unknown) : params;
  return typeof p === 'object' && p !== null && !Array.isArray(p)
    ? (p as Record<string, unknown>)
    : {};
}

function stringParam(p: Record<string, unknown>, key: string, required: true): string;
function stringParam(p: Record<string, unknown>, key: string, required: false): string | undefined;
function stringParam(
  p: Record<string, unknown>,
  key: string,
  required: boolean,
): string | undefined {
  const v = p[key];
  if (v === undefined || v === null) {
    if (required) throw new RpcError(RPC_ERROR.invalidParams, `params.${key} is required`);
    return undefined;
  }
  if (typeof v !== 'string')
    throw new RpcError(RPC_ERROR.invalidParams, `params.${key} must be a string`);
  return v;
}

interface Subscription {
  session: RpcSession;
  workflows: Set<string>;
  tasks: Map<string, { workflow: string; index: number }>;
  timer: NodeJS.Timeout | undefined;
}

/** Creates the console's methods. */
export function createConsoleRpc(init: ConsoleRpcInit): ConsoleRpc {
  const { node, model } = init;
  const search = createMemoSearch({ memo: node.memo, tables: init.tables });
  const subs = new Map<string, Subscription>();

  const flush = (id: string): void => {
    const sub = subs.get(id);
    if (sub === undefined) return;
    sub.timer = undefined;
    const workflows = [];
    for (const cid of sub.workflows) {
      const wf = model.workflow(cid);
      if (wf !== undefined) workflows.push(model.summary(wf));
    }
    const tasks: Array<{ workflow: string; index: number; state: TaskState }> = [];
    for (const { workflow, index } of sub.tasks.values()) {
      const t = model.workflow(workflow)?.tasks[index];
      if (t !== undefined) tasks.push({ workflow, index, state: t.state });
    }
    sub.workflows.clear();
    sub.tasks.clear();
    sub.session.send(
      JSON.stringify({
        jsonrpc: '2.0',
        method: 'console_subscribe',
        params: { subscription: id, result: { workflows, tasks } },
      }),
    );
  };
  const stopListening = model.onChange((change) => {
    for (const [id, sub] of subs) {
      sub.workflows.add(change.workflow);
      if (change.task !== undefined)
        sub.tasks.set(`${change.workflow} ${change.task}`, {
          workflow: change.workflow,
          index: change.task,
        });
      sub.timer ??= setTimeout(() => flush(id), NOTIFY_INTERVAL_MS);
    }
  });
  const end = (id: string): boolean => {
    const sub = subs.get(id);
    if (sub === undefined) return false;
    clearTimeout(sub.timer);
    subs.delete(id);
    return true;
  };

  const workflowOf = (p: Record<string, unknown>, key: string) => {
    const cid = stringParam(p, key, true);
    const wf = model.workflow(cid);
    if (wf === undefined)
      throw new RpcError(
        RPC_ERROR.invalidParams,
        `no workflow ${cid} in the console (unknown, or ended long ago and forgotten)`,
      );
    return wf;
  };

  const forbidActions = (method: string): void => {
    if (init.actions !== true)
      throw new RpcError(
        CONSOLE_FORBIDDEN,
        `${method} is not allowed: the console is read-only (start the node with --console-actions)`,
      );
  };

  const submit = async (value: IpldValue): Promise<Record<string, unknown>> => {
    try {
      const parsed = await node.submit(value);
      return { cid: parsed.cid.toString(), name: parsed.name, tasks: parsed.tasks.length };
    } catch (err) {
      const retryable = (err as { retryable?: unknown }).retryable === true;
      throw new RpcError(
        retryable ? RPC_ERROR.serverBusy : RPC_ERROR.invalidParams,
        `not able to run the workflow: ${(err as Error).message}`,
        { cause: err, retryable },
      );
    }
  };

  async function call(method: string, params: unknown, session: RpcSession): Promise<unknown> {
    const p = paramObject(params);
    switch (method as (typeof METHODS)[number]) {
      case 'console_workflows': {
        const status = stringParam(p, 'status', false);
        if (
          status !== undefined &&
          status !== '' &&
          status !== 'running' &&
          status !== 'completed' &&
          status !== 'failed'
        )
          throw new RpcError(
            RPC_ERROR.invalidParams,
            'params.status must be running, completed or failed',
          );
        const limit = typeof p.limit === 'number' ? Math.min(1000, Math.max(1, p.limit)) : 200;
        return model.workflows({
          status: status === '' ? undefined : status,
          name: stringParam(p, 'name', false),
          limit,
        });
      }
      case 'console_workflow': {
        const wf = workflowOf(p, 'cid');
        const { layer, column } = layoutDag(wf.tasks);
        return {
          summary: model.summary(wf),
          reason: wf.reason,
          submissions: wf.submissions,
          tasks: wf.tasks.map((t) => ({
            index: t.index,
            instruction: t.instruction,
            func: t.func,
            op: t.op,
            kind: t.kind,
            state: t.state,
            awaits: t.awaits,
            external: t.external.length,
            layer: layer[t.index],
            column: column[t.index],
          })),
        };
      }
      case 'console_task': {
        const wf = workflowOf(p, 'workflow');
        const index = p.index;
        const t = typeof index === 'number' ? wf.tasks[index] : undefined;
        if (t === undefined)
          throw new RpcError(
            RPC_ERROR.invalidParams,
            `params.index must be a task index 0-${wf.tasks.length - 1}`,
          );
        const run = model.instruction(wf, t.index);
        const entry = node.memo.get(t.instruction);
        const input = run?.input as { args?: IpldValue } | null | undefined;
        return {
          ...t,
          workflow: wf.cid,
          instruction: {
            cid: t.instruction,
            rsc: run?.rsc ?? t.rsc,
            op: run?.op ?? t.op,
            nnc: run === undefined ? null : jsonText(run.nnc),
            input: run === undefined ? null : jsonText(run.input),
          },
          // Effects take their whole input (as the executor does: `[input]`).
          args:
            run === undefined
              ? null
              : jsonText(
                  resolveAwaits(
                    run.op === 'wasm/run' ? (input?.args ?? null) : [run.input],
                    node.memo,
                  ),
                ),
          output:
            entry === undefined || t.state === 'pending' || t.state === 'ready'
              ? null
              : { outcome: entry.body.out[0], view: valueView(entry.body.out[1]) },
        };
      }
      case 'console_node': {
        const stats = model.stats();
        const lag = init.lag === undefined ? [] : await init.lag().catch(() => []);
        return {
          nodeId: node.nodeId,
          ...stats,
          lag,
          memo: {
            entries: node.memo.size,
            hitRatio: stats.receipts === 0 ? 0 : stats.replayed / stats.receipts,
          },
          executor: { concurrency: init.concurrency ?? null, inFlight: stats.inFlight },
          actions: init.actions === true,
          search: init.tables === undefined ? 'memo' : 'tables',
        };
      }
      case 'console_memo_search': {
        try {
          return await search.search(stringParam(p, 'query', true), {
            signal: AbortSignal.timeout(10_000),
          });
        } catch (err) {
          if (err instanceof SearchQueryError)
            throw new RpcError(RPC_ERROR.invalidParams, err.message, { cause: err });
          throw err;
        }
      }
      case 'console_subscribe': {
        if (!session.streaming)
          throw new RpcError(RPC_ERROR.methodNotFound, 'console_subscribe needs a WebSocket');
        const id = randomBytes(12).toString('hex');
        subs.set(id, { session, workflows: new Set(), tasks: new Map(), timer: undefined });
        return id;
      }
      case 'console_unsubscribe': {
        const id = Array.isArray(params) ? (params[0] as unknown) : p.id;
        if (typeof id !== 'string')
          throw new RpcError(RPC_ERROR.invalidParams, 'expected [subscription id]');
        if (subs.get(id)?.session !== session) return false;
        return end(id);
      }
      case 'console_submit': {
        forbidActions(method);
        const text = stringParam(p, 'workflow', true);
        const name = stringParam(p, 'name', false);
        let value: IpldValue;
        try {
          value = dagJson.decode(text);
        } catch (err) {
          throw new RpcError(
            RPC_ERROR.invalidParams,
            `params.workflow is not DAG-JSON: ${(err as Error).message}`,
            { cause: err },
          );
        }
        const wrapped =
          name === undefined || name === ''
            ? value
            : { name, workflow: (value as { workflow?: IpldValue }).workflow ?? value };
        return submit(wrapped);
      }
      case 'console_rerun': {
        forbidActions(method);
        const wf = workflowOf(p, 'cid');
        const mode = stringParam(p, 'mode', false) ?? 'replay';
        if (mode !== 'replay' && mode !== 'nonce')
          throw new RpcError(RPC_ERROR.invalidParams, 'params.mode must be replay or nonce');
        const workflow = mode === 'replay' ? wf.body : (withFreshNonces(wf.body) as never);
        return submit(wf.name === null ? workflow : { name: wf.name, workflow });
      }
      case 'console_cancel':
        forbidActions(method);
        return cancelOverRpc(node, p.cid, 'params.cid', stringParam(p, 'reason', false) ?? null, {
          value: p.proofs,
          field: 'params.proofs',
        });
      default:
        throw new RpcError(RPC_ERROR.methodNotFound, `method not found: ${method}`);
    }
  }

  return {
    methods: CONSOLE_METHODS,
    call: (method, params, session) =>
      (METHODS as readonly string[]).includes(method) ? call(method, params, session) : undefined,
    closeSession(session) {
      for (const [id, sub] of subs) if (sub.session === session) end(id);
    },
    close() {
      for (const id of [...subs.keys()]) end(id);
      stopListening();
    },
  };
}
