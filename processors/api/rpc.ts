/**
 * JSON-RPC 2.0 methods of the API, independent of the transport: the server hands each incoming
 * message to {@link RpcHandler.handle} with the {@link RpcSession} it came from, and the handler
 * answers (and later notifies) through the session.
 *
 * Methods (names and shapes as in Homestar's webserver): `rpc_discover` (alias `rpc.discover`),
 * `health`, `metrics`, `node`, `subscribe_run_workflow`, `unsubscribe_run_workflow`.
 *
 * The JSON-RPC framing is our own rather than a library's (json-rpc-2.0, jayson): those work
 * on the message as `JSON.parse` returns it, while a workflow parameter must be decoded as
 * DAG-JSON from the message's own text (links, integers past 2^53 kept exact), and a
 * subscription's notifications must follow its response on the same session. What is left is
 * a switch over the method names.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { Subscription } from '../rx/index.ts';
import type { CID } from 'multiformats/cid';
import { dagJson } from '../../schemas/codecs.ts';
import { FormatError, SchemaError, DecodeError } from '../../schemas/errors.ts';
import type { ReceiptEvent } from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow, type ParsedWorkflow } from '../../schemas/model.ts';
import type { Receipt } from '../../schemas/types.ts';
import type { Logger } from '../logger.ts';
import type { NodeMetrics } from '../metrics.ts';
import type { IpvmNode } from '../engine/node.ts';
import type { RpcExtension, RpcSession } from './extension.ts';
import { RPC_ERROR, RpcError } from './errors.ts';
import { encodeReceiptNotification, subscriptionMessage } from './notification.ts';
import { openRpcDocument } from './openrpc.ts';

/** Method names, as Homestar spells them. */
export const METHODS = {
  discover: 'rpc_discover',
  health: 'health',
  metrics: 'metrics',
  node: 'node',
  subscribeRunWorkflow: 'subscribe_run_workflow',
  unsubscribeRunWorkflow: 'unsubscribe_run_workflow',
} as const;

/**
 * Notification sent on a `subscribe_run_workflow` subscription when its workflow was accepted
 * with warnings (e.g. an await no task produces and the memo lacks):
 * `{subscription, result: {workflow, warnings: string[]}}`. Not Homestar's: its clients ignore it.
 */
export const WARNING_METHOD = 'ipvm_workflow_warning';

export type { RpcExtension, RpcSession };

/** Construction options of {@link createRpcHandler}. */
export interface RpcHandlerInit {
  /** The node that runs workflows. */
  node: IpvmNode;
  /** Metrics for the `metrics` method; without it the method returns `{metrics: []}`. */
  metrics?: NodeMetrics;
  /** Logger (component `api`). */
  logger?: Logger;
  /** Health probe for the `health` method. @default always healthy */
  health?: (options: { signal?: AbortSignal }) => Promise<boolean>;
  /** The addresses the server listens on, for the `node` method. */
  listeners?: () => string[];
  /**
   * The node's libp2p identity (content exchange): the `node` method then reports its peer id,
   * multiaddrs and connections, as Homestar's does.
   */
  p2p?: NodePeer;
  /** Version in the OpenRPC document. @default '0.1.0' */
  version?: string;
  /** Largest workflow accepted, in bytes of the request. @default 16 MiB */
  maxRequestBytes?: number;
  /** Open subscriptions one session (connection) may hold. @default 64 */
  maxSubscriptionsPerConnection?: number;
  /**
   * More methods, tried after the built-in ones: the face's (`face.ts`), the console's
   * (`console-rpc.ts`).
   */
  extensions?: readonly RpcExtension[];
}

/** A node's libp2p identity, for the `node` method. */
export interface NodePeer {
  readonly peerId: string;
  multiaddrs(): string[];
  /** Connected peers: peer id → remote multiaddr. */
  connections(): Record<string, string>;
}

/** The `node` method's answer (Homestar's shape). */
export function nodeInfo(
  nodeId: string,
  listeners: string[],
  p2p: NodePeer | undefined,
): {
  static: { peer_id: string };
  dynamic: { listeners: string[]; connections: Record<string, string> };
} {
  if (p2p === undefined)
    return { static: { peer_id: nodeId }, dynamic: { listeners, connections: {} } };
  return {
    static: { peer_id: p2p.peerId },
    dynamic: { listeners: p2p.multiaddrs(), connections: p2p.connections() },
  };
}

/** The JSON-RPC handler. */
export interface RpcHandler {
  /** Handles one message (a request, a notification or a batch) and answers through `session`. */
  handle(text: string, session: RpcSession): Promise<void>;
  /** Ends the subscriptions of a session (its socket closed). */
  closeSession(session: RpcSession): void;
  /** Number of open subscriptions (all sessions). */
  readonly subscriptions: number;
  /** Ends every subscription. */
  close(): void;
}

interface JsonRpcRequest {
  jsonrpc: '2.0';
  method: string;
  params?: unknown;
  id?: string | number | null;
}

interface WorkflowSubscription {
  id: string;
  session: RpcSession;
  name: string;
  workflow: ParsedWorkflow;
  seen: Set<string>;
  /** Notifications wait until the subscribe response is sent. */
  queue: string[] | null;
  receipts: Subscription;
  abort: AbortController;
}

const SUBSCRIPTION_ID_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A random 16-character id, like jsonrpsee's RandomStringIdProvider that Homestar uses. */
function subscriptionId(): string {
  const bytes = randomBytes(16);
  let id = '';
  for (const b of bytes) id += SUBSCRIPTION_ID_CHARS[b % SUBSCRIPTION_ID_CHARS.length];
  return id;
}

function runName(): string {
  return `workflow-${randomBytes(3).toString('hex')}`;
}

function isRequest(value: unknown): value is JsonRpcRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  const idOk =
    v.id === undefined || v.id === null || typeof v.id === 'string' || typeof v.id === 'number';
  return v.jsonrpc === '2.0' && typeof v.method === 'string' && idOk;
}

function response(id: JsonRpcRequest['id'], result: unknown): Record<string, unknown> {
  return { jsonrpc: '2.0', result, id: id ?? null };
}

function errorResponse(
  id: JsonRpcRequest['id'] | undefined,
  error: RpcError,
): Record<string, unknown> {
  return { jsonrpc: '2.0', error: error.toJSON(), id: id ?? null };
}

/** The first positional parameter, or the by-name parameter object itself. */
function firstParam(params: unknown): unknown {
  if (Array.isArray(params)) return params[0];
  return params;
}

function isByteArray(value: unknown): value is number[] {
  return (
    Array.isArray(value) &&
    value.every((b) => typeof b === 'number' && Number.isInteger(b) && b >= 0 && b <= 255)
  );
}

/** The JSON-RPC error for a workflow that does not parse (with its location). */
export function badWorkflow(err: unknown): RpcError {
  if (err instanceof SchemaError)
    return new RpcError(RPC_ERROR.invalidParams, `invalid workflow: ${err.message}`, {
      cause: err,
      data: { path: err.path, reason: err.reason },
    });
  if (err instanceof DecodeError)
    return new RpcError(RPC_ERROR.invalidParams, `invalid workflow: ${err.message}`, {
      cause: err,
      data: { codec: err.codec, offset: err.offset },
    });
  if (err instanceof FormatError)
    return new RpcError(RPC_ERROR.invalidParams, `invalid workflow: ${err.message}`, {
      cause: err,
    });
  return new RpcError(RPC_ERROR.invalidParams, `invalid workflow: ${(err as Error).message}`, {
    cause: err,
  });
}

/**
 * Reads `subscribe_run_workflow`'s parameter: `{name?, workflow}` as DAG-JSON (`exact` is the
 * same parameter decoded as DAG-JSON from the raw text, so that links and integers beyond 2^53
 * are exact), or the DAG-CBOR bytes of `{name, workflow}` as an array of numbers.
 */
function readRun(
  param: unknown,
  exact: IpldValue | undefined,
): { name: string | null; parsed: ParsedWorkflow } {
  try {
    if (isByteArray(param)) {
      const parsed = parseWorkflow(Uint8Array.from(param));
      return { name: parsed.name, parsed };
    }
    if (typeof param !== 'object' || param === null)
      throw new SchemaError('params[0]', 'expected {name, workflow} or the DAG-CBOR bytes of it');
    const source = exact ?? dagJson.decode(JSON.stringify(param));
    const parsed = parseWorkflow(source);
    return { name: parsed.name, parsed };
  } catch (err) {
    throw badWorkflow(err);
  }
}

/** An `AuthError` (`processors/auth/`), told by its shape so the API needs no UCAN code. */
export function isAuthRefusal(
  err: unknown,
): err is Error & { rule: string; location: Record<string, unknown> } {
  return (
    err instanceof Error &&
    err.name === 'AuthError' &&
    typeof (err as { rule?: unknown }).rule === 'string'
  );
}

/**
 * UCAN proofs beside the workflow in `subscribe_run_workflow`'s parameter:
 * `{name?, workflow, proofs: {CID: token} | [token…]}`. Keys are recomputed by the authority.
 */
function readRunProofs(req: JsonRpcRequest): Record<string, string> | undefined {
  const p = firstParam(req.params) as { proofs?: unknown } | null;
  if (typeof p !== 'object' || p === null || Array.isArray(p) || p.proofs === undefined)
    return undefined;
  const list = Array.isArray(p.proofs)
    ? (p.proofs as unknown[])
    : typeof p.proofs === 'object' && p.proofs !== null
      ? Object.values(p.proofs)
      : [p.proofs];
  const out: Record<string, string> = {};
  list.forEach((t, i) => {
    if (typeof t !== 'string')
      throw new RpcError(
        RPC_ERROR.invalidParams,
        `params[0].proofs[${i}]: expected a token string`,
      );
    out[`#${i}`] = t;
  });
  return out;
}

/** Creates the handler. */
export function createRpcHandler(init: RpcHandlerInit): RpcHandler {
  const { node } = init;
  const logger = init.logger;
  const version = init.version ?? '0.1.0';
  const maxBytes = init.maxRequestBytes ?? 16 * 1024 * 1024;
  const maxSubscriptions = init.maxSubscriptionsPerConnection ?? 64;
  const subs = new Map<string, WorkflowSubscription>();
  const bySession = new Map<RpcSession, Set<string>>();

  const notify = (
    sub: WorkflowSubscription,
    instruction: string,
    receipt: Receipt,
    receiptCid: CID,
    replayed: boolean,
  ): void => {
    if (sub.seen.has(instruction) || sub.abort.signal.aborted) return;
    sub.seen.add(instruction);
    const payload = encodeReceiptNotification({
      metadata: { name: sub.name, replayed, workflow: sub.workflow.cid },
      receipt,
      receipt_cid: receiptCid,
    });
    const text = subscriptionMessage(METHODS.subscribeRunWorkflow, sub.id, payload);
    if (sub.queue !== null) sub.queue.push(text);
    else sub.session.send(text);
  };

  const end = (id: string): boolean => {
    const sub = subs.get(id);
    if (sub === undefined) return false;
    subs.delete(id);
    bySession.get(sub.session)?.delete(id);
    sub.abort.abort();
    sub.receipts.unsubscribe();
    return true;
  };

  async function subscribe(
    req: JsonRpcRequest,
    exactParams: IpldValue | undefined,
    session: RpcSession,
    after: Array<() => void>,
  ): Promise<string> {
    if (!session.streaming)
      throw new RpcError(
        RPC_ERROR.methodNotFound,
        `${req.method} needs a WebSocket connection (subscriptions cannot be served over HTTP)`,
      );
    const open = bySession.get(session)?.size ?? 0;
    if (open >= maxSubscriptions)
      throw new RpcError(
        RPC_ERROR.serverBusy,
        `too many subscriptions on this connection (at most ${maxSubscriptions}); unsubscribe first`,
        { retryable: true },
      );
    const { name, parsed } = readRun(
      firstParam(req.params),
      exactParams === undefined ? undefined : (firstParam(exactParams) as IpldValue),
    );
    const id = subscriptionId();
    const sub: WorkflowSubscription = {
      id,
      session,
      name: name ?? runName(),
      workflow: parsed,
      seen: new Set(),
      queue: [],
      receipts: undefined as unknown as Subscription,
      abort: new AbortController(),
    };
    // Subscribe before submitting, so no receipt of this run can be missed.
    sub.receipts = node
      .receipts(parsed.cid)
      .subscribe((r: ReceiptEvent) =>
        notify(sub, r.instruction.toString(), r.body, r.receipt, r.replayed),
      );
    subs.set(id, sub);
    let set = bySession.get(session);
    if (set === undefined) bySession.set(session, (set = new Set()));
    set.add(id);
    let warnings: string[];
    try {
      // The user's name (if any) goes on the submission, so `ipvm status` shows it.
      ({ warnings } = await node.submit(parsed.bytes, {
        signal: sub.abort.signal,
        name,
        proofs: readRunProofs(req),
      }));
    } catch (err) {
      end(id);
      if (err instanceof Error && err.name === 'SecretError')
        throw new RpcError(RPC_ERROR.invalidParams, `invalid workflow: ${err.message}`, {
          cause: err,
        });
      if (isAuthRefusal(err)) {
        logger?.info({ workflow: parsed.cid.toString(), rule: err.rule }, 'workflow refused');
        throw new RpcError(RPC_ERROR.unauthorized, `not authorized: ${err.message}`, {
          cause: err,
          data: { rule: err.rule, ...err.location, workflow: parsed.cid.toString() },
        });
      }
      const retryable = (err as { retryable?: unknown }).retryable === true;
      logger?.error({ err, workflow: parsed.cid.toString() }, 'workflow submission failed');
      throw new RpcError(
        retryable ? RPC_ERROR.serverBusy : RPC_ERROR.internalError,
        `not able to run workflow ${parsed.cid.toString()}: ${(err as Error).message}`,
        { cause: err, retryable },
      );
    }
    logger?.info(
      {
        workflow: parsed.cid.toString(),
        name: sub.name,
        subscription: id,
        tasks: parsed.tasks.length,
      },
      'workflow subscribed',
    );
    if (warnings.length > 0) {
      logger?.warn(
        { workflow: parsed.cid.toString(), warnings },
        'workflow submitted with warnings',
      );
      // After the subscription id (queued below): a notification Homestar clients can ignore.
      sub.queue?.unshift(
        JSON.stringify({
          jsonrpc: '2.0',
          method: WARNING_METHOD,
          params: { subscription: id, result: { workflow: parsed.cid.toString(), warnings } },
        }),
      );
    }
    after.push(() => {
      const queued = sub.queue ?? [];
      sub.queue = null;
      for (const text of queued) session.send(text);
    });
    // A workflow that ran before ends at once and its receipts may not be written again for it:
    // answer those from the memo, as replayed, so the client gets one notification per task.
    node.ended(parsed.cid, { signal: sub.abort.signal }).then(
      () => {
        let fromMemo = 0;
        for (const t of parsed.tasks) {
          const key = t.instruction.toString();
          const entry = node.memo.get(key);
          if (entry === undefined || sub.seen.has(key)) continue;
          notify(sub, key, entry.body, entry.receipt, true);
          fromMemo++;
        }
        if (fromMemo > 0 && !sub.abort.signal.aborted) init.metrics?.onReplayedFromMemo(fromMemo);
      },
      () => undefined, // unsubscribed first
    );
    return id;
  }

  async function call(
    req: JsonRpcRequest,
    exactParams: IpldValue | undefined,
    session: RpcSession,
    after: Array<() => void>,
  ): Promise<unknown> {
    switch (req.method) {
      case METHODS.discover:
      case 'rpc.discover':
        return openRpcDocument(
          version,
          (init.extensions ?? []).flatMap((e) => e.methods ?? []),
        );
      case METHODS.health: {
        const healthy =
          init.health === undefined
            ? true
            : await init.health({ signal: AbortSignal.timeout(5_000) }).catch(() => false);
        return { healthy };
      }
      case METHODS.metrics:
        return init.metrics === undefined ? { metrics: [] } : init.metrics.homestar();
      case METHODS.node:
        return nodeInfo(node.nodeId, init.listeners?.() ?? [], init.p2p);
      case METHODS.subscribeRunWorkflow:
        return subscribe(req, exactParams, session, after);
      case METHODS.unsubscribeRunWorkflow: {
        const id = firstParam(req.params);
        if (typeof id !== 'string')
          throw new RpcError(RPC_ERROR.invalidParams, 'expected [subscription id]');
        // Only the session that subscribed may end a subscription.
        if (subs.get(id)?.session !== session) return false;
        return end(id);
      }
      default: {
        for (const ext of init.extensions ?? []) {
          const answer = ext.call(req.method, req.params, session);
          if (answer !== undefined) return answer;
        }
        throw new RpcError(RPC_ERROR.methodNotFound, `method not found: ${req.method}`);
      }
    }
  }

  async function one(
    value: unknown,
    exact: IpldValue | undefined,
    session: RpcSession,
    after: Array<() => void>,
  ): Promise<Record<string, unknown> | null> {
    if (!isRequest(value))
      return errorResponse(
        null,
        new RpcError(
          RPC_ERROR.invalidRequest,
          'invalid request: expected {"jsonrpc": "2.0", "method", "params"?, "id"?}',
        ),
      );
    const started = performance.now();
    try {
      const result = await call(value, exact, session, after);
      logger?.debug({ method: value.method, ms: performance.now() - started }, 'rpc call');
      return value.id === undefined ? null : response(value.id, result);
    } catch (err) {
      const e =
        err instanceof RpcError
          ? err
          : new RpcError(RPC_ERROR.internalError, (err as Error).message, { cause: err });
      logger?.debug({ method: value.method, code: e.code, error: e.message }, 'rpc error');
      return value.id === undefined ? null : errorResponse(value.id, e);
    }
  }

  return {
    async handle(text, session) {
      if (text.length > maxBytes) {
        session.send(
          JSON.stringify(
            errorResponse(
              null,
              new RpcError(RPC_ERROR.invalidRequest, `request larger than ${maxBytes} bytes`),
            ),
          ),
        );
        return;
      }
      let message: unknown;
      try {
        message = JSON.parse(text);
      } catch (err) {
        session.send(
          JSON.stringify(
            errorResponse(
              null,
              new RpcError(RPC_ERROR.parseError, `parse error: ${(err as Error).message}`),
            ),
          ),
        );
        return;
      }
      // The same text as DAG-JSON keeps links and big integers exact for workflow parameters.
      const wantsExact = text.includes(METHODS.subscribeRunWorkflow);
      let exact: IpldValue | undefined;
      if (wantsExact) {
        try {
          exact = dagJson.decode(text);
        } catch (err) {
          // Too deep or otherwise not DAG-JSON: a located error (byte offset), never a stack
          // overflow further on.
          const id = (message as { id?: unknown } | null)?.id;
          session.send(
            JSON.stringify(
              errorResponse(
                typeof id === 'string' || typeof id === 'number' ? id : null,
                badWorkflow(err),
              ),
            ),
          );
          return;
        }
      }
      const paramsOf = (v: IpldValue | undefined): IpldValue | undefined =>
        v !== undefined &&
        v !== null &&
        typeof v === 'object' &&
        !Array.isArray(v) &&
        !(v instanceof Uint8Array)
          ? (v as Record<string, IpldValue>).params
          : undefined;
      const after: Array<() => void> = [];
      if (Array.isArray(message)) {
        if (message.length === 0) {
          session.send(
            JSON.stringify(
              errorResponse(null, new RpcError(RPC_ERROR.invalidRequest, 'empty batch')),
            ),
          );
          return;
        }
        const exactList = Array.isArray(exact) ? exact : [];
        const out = await Promise.all(
          message.map((m, i) => one(m, paramsOf(exactList[i]), session, after)),
        );
        const answers = out.filter((r) => r !== null);
        if (answers.length > 0) session.send(JSON.stringify(answers));
      } else {
        const out = await one(message, paramsOf(exact), session, after);
        if (out !== null) session.send(JSON.stringify(out));
      }
      for (const f of after) f();
    },
    closeSession(session) {
      for (const id of [...(bySession.get(session) ?? [])]) end(id);
      bySession.delete(session);
      for (const ext of init.extensions ?? []) ext.closeSession?.(session);
    },
    get subscriptions() {
      return subs.size;
    },
    close() {
      for (const id of [...subs.keys()]) end(id);
      for (const ext of init.extensions ?? []) ext.close?.();
    },
  };
}
