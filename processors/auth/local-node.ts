/**
 * The node-local route for secret-tainted workflows. Two engines run side by side: the shared
 * one (on the configured backend: file, Kafka or JetStream) and a node-local one on a file log
 * of its own inside the data directory, whose runner alone resolves `{"secret": NAME}`. This
 * facade is the {@link IpvmNode} the CLI and the API see: a workflow with a tainted task
 * ({@link TaintTracker}) is submitted to the local engine — submission, ready tasks, receipts
 * and end stay on the local log, so nothing of it reaches a shared stream, the tables (they
 * index the shared streams), a CAR export (receipts are not content blocks) or another node.
 * Everything else goes to the shared engine. Tainted receipts are shown redacted (outcome value
 * replaced, CIDs kept) to subscribers and memo readers.
 *
 * @module
 */
import { WorkflowNotRunningError } from '../engine/cancel.ts';
import { CID } from 'multiformats/cid';
import { ReplaySubject, merge, map, switchMap, take, type Observable } from '../rx/index.ts';
import type { ReceiptEvent, WorkflowEndedEvent } from '../../schemas/events.ts';
import { isParsedWorkflow, parseWorkflow } from '../../schemas/model.ts';
import type { Receipt } from '../../schemas/types.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import type { TaskRunner } from '../engine/execute-tasks.ts';
import type { Memo, MemoEntry } from '../engine/memo.ts';
import { sumHeld } from '../engine/key-index.ts';
import type { IpvmNode } from '../engine/node.ts';
import { SecretError } from './errors.ts';
import type { SecretStore } from './secrets.ts';
import { resolveSecrets, type TaintTracker } from './taint.ts';
import type { TaintLedger } from './taint-ledger.ts';

/** What a tainted outcome shows instead of its value. */
export const REDACTED = '[redacted: derived from a node-local secret]';

/** A runner that replaces `{"secret": NAME}` arguments by the secret's value, at execution. */
export function withSecrets(runner: TaskRunner, store: SecretStore): TaskRunner {
  return {
    execute(request, options) {
      let args;
      try {
        args = request.args.map((a) => resolveSecrets(a, (name) => store.get(name).value));
      } catch (err) {
        if (!(err instanceof SecretError)) throw err;
        const message = err.message;
        return Promise.resolve({
          ok: false,
          error: { kind: 'secret', message },
          fuel: 0,
          durationMs: 0,
        });
      }
      return runner.execute({ ...request, args }, options);
    },
  };
}

function redactBody(body: Receipt): Receipt {
  return { ...body, out: [body.out[0], REDACTED] as Receipt['out'] };
}

/**
 * The node-local engine's `screenFollowUp`: a tainted result's `fx` inherit its taint (hosts
 * checked as for a submission), and an accepted follow-up is recorded in the ledger like a
 * submission, so its instructions stay tainted across restarts.
 */
export function screenFollowUps(
  taint: TaintTracker,
  ledger?: TaintLedger,
): (workflow: IpldValue, cause: ReceiptEvent) => string | undefined {
  return (workflow, cause) => {
    const screened = taint.screenFollowUp(workflow, cause.instruction.toString());
    if (screened === undefined) return undefined;
    if ('refused' in screened) return screened.refused;
    ledger?.submitted(screened.workflow, screened.tainted);
    return undefined;
  };
}

/** The node-local engine, opened on first use. */
export interface LocalEngine {
  /** Opens the engine (once; later calls return the same promise). */
  open(): Promise<IpvmNode>;
  /** The engine when it is open, else undefined. */
  opened(): IpvmNode | undefined;
  /** The opening under way or done, else undefined (closing waits for it). */
  opening(): Promise<IpvmNode> | undefined;
}

/** A {@link LocalEngine} over an opener, which runs at most once. */
export function lazyLocalEngine(openNode: () => Promise<IpvmNode>): LocalEngine {
  let opening: Promise<IpvmNode> | undefined;
  let node: IpvmNode | undefined;
  return {
    open: () =>
      (opening ??= openNode().then((n) => {
        node = n;
        return n;
      })),
    opened: () => node,
    opening: () => opening,
  };
}

/**
 * The facade over the shared and the node-local engine. The local one opens on the first
 * tainted submission, or at once (its recovery) when the ledger has tainted workflows that
 * have not ended.
 */
export async function routeTainted(init: {
  shared: IpvmNode;
  local: LocalEngine;
  taint: TaintTracker;
  /** Records tainted submissions and ends, so restarts keep the taint. */
  ledger?: TaintLedger;
}): Promise<IpvmNode> {
  const { shared, local, taint, ledger } = init;
  const redact = (e: ReceiptEvent): ReceiptEvent =>
    taint.isTainted(e.instruction.toString()) ? { ...e, body: redactBody(e.body) } : e;
  const redactEntry = (e: MemoEntry | undefined): MemoEntry | undefined =>
    e === undefined || !taint.isTainted(e.instruction.toString())
      ? e
      : { ...e, body: redactBody(e.body) };
  // Emits the local engine once it is open, to every subscriber (also those before it opened).
  const local$ = new ReplaySubject<IpvmNode>(1);
  let localSeen = false;
  const openLocal = async (): Promise<IpvmNode> => {
    const n = await local.open();
    if (!localSeen) {
      localSeen = true;
      n.ends().subscribe((e) => ledger?.ended(e.workflow.toString()));
      local$.next(n);
    }
    return n;
  };
  const unfinished = ledger?.unfinished() ?? [];
  if (unfinished.length > 0) {
    const n = await openLocal();
    // Ends recovered from the local log are known at once: record them.
    for (const w of unfinished)
      void n
        .ended(CID.parse(w))
        .then((e) => ledger?.ended(e.workflow.toString()))
        .catch(() => undefined);
  }
  const fromLocal = <T>(f: (n: IpvmNode) => Observable<T>): Observable<T> =>
    local$.pipe(switchMap(f));
  const memo: Memo = {
    get: (key) => redactEntry(shared.memo.get(key) ?? local.opened()?.memo.get(key)),
    written: (i, w) => shared.memo.written(i, w) || local.opened()?.memo.written(i, w) === true,
    attempted: (i, w) =>
      shared.memo.attempted(i, w) || local.opened()?.memo.attempted(i, w) === true,
    put: (e) => shared.memo.put(e),
    putLazy: (r, bytes) => shared.memo.putLazy(r, bytes),
    has: (key) => shared.memo.has(key) || local.opened()?.memo.has(key) === true,
    get size() {
      return shared.memo.size + (local.opened()?.memo.size ?? 0);
    },
    get packedBytes() {
      return shared.memo.packedBytes + (local.opened()?.memo.packedBytes ?? 0);
    },
    get residentBytes() {
      return shared.memo.residentBytes + (local.opened()?.memo.residentBytes ?? 0);
    },
    get spilledBytes() {
      return shared.memo.spilledBytes + (local.opened()?.memo.spilledBytes ?? 0);
    },
    keptBytes: () => sumHeld([shared.memo.keptBytes(), local.opened()?.memo.keptBytes()]),
    *entries() {
      yield* shared.memo.entries();
      for (const e of local.opened()?.memo.entries() ?? []) yield redactEntry(e)!;
    },
  };
  const node: IpvmNode = {
    memo,
    history: () => sumHeld([shared.history(), local.opened()?.history()]),
    topology: shared.topology,
    nodeId: shared.nodeId,
    async submit(workflow, options) {
      const parsed = isParsedWorkflow(workflow) ? workflow : parseWorkflow(workflow);
      const tainted = taint.analyse(parsed); // throws SecretError before anything is written
      // Parsed once: a `{name, workflow}` wrapper's name travels in `parsed.name`.
      if (tainted.size === 0) return shared.submit(parsed, options);
      const engine = await openLocal();
      ledger?.submitted(
        parsed.cid.toString(),
        new Map([...tainted].map(([i, names]) => [parsed.tasks[i]!.instruction.toString(), names])),
      );
      try {
        return await engine.submit(parsed, options);
      } catch (err) {
        // Refused before anything was appended: not a workflow to recover at the next start.
        if ((err as Error).name === 'AuthError') ledger?.ended(parsed.cid.toString());
        throw err;
      }
    },
    receipts(workflow): Observable<ReceiptEvent> {
      return merge(
        shared.receipts(workflow),
        fromLocal((n) => n.receipts(workflow)).pipe(map(redact)),
      );
    },
    async cancel(workflow, options) {
      // A workflow runs on one of the two nodes: the local one when it handles secrets.
      const l = local.opened();
      if (l === undefined) return shared.cancel(workflow, options);
      try {
        await l.cancel(workflow, options);
      } catch (err) {
        if (!(err instanceof WorkflowNotRunningError) || err.state !== 'unknown') throw err;
        await shared.cancel(workflow, options);
      }
    },
    // The shared node's: the local one never leaves this node.
    behind: (options) => shared.behind(options),
    ends: () =>
      merge(
        shared.ends(),
        fromLocal((n) => n.ends()),
      ),
    async ended(workflow, options) {
      const ac = new AbortController();
      const abort = (): void => ac.abort(options?.signal?.reason);
      options?.signal?.addEventListener('abort', abort, { once: true });
      try {
        return await Promise.race([
          shared.ended(workflow, { signal: ac.signal }),
          new Promise<WorkflowEndedEvent>((resolve, reject) => {
            const sub = local$
              .pipe(
                take(1),
                switchMap((n) => n.ended(workflow, { signal: ac.signal })),
              )
              .subscribe({ next: resolve, error: reject });
            ac.signal.addEventListener('abort', () => sub.unsubscribe(), { once: true });
          }),
        ]);
      } finally {
        options?.signal?.removeEventListener('abort', abort);
        ac.abort();
      }
    },
    async close() {
      local$.complete();
      // An engine still opening (a tainted submission racing the close) is closed once open.
      await Promise.all([
        shared.close(),
        local.opening()?.then(
          (n) => n.close(),
          () => undefined,
        ),
      ]);
    },
    [Symbol.asyncDispose]() {
      return node.close();
    },
  };
  return node;
}
