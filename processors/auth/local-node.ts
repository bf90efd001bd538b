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
import { merge, map, type Observable } from 'rxjs';
import type { ReceiptEvent } from '../../schemas/events.ts';
import { isParsedWorkflow, parseWorkflow } from '../../schemas/model.ts';
import type { Receipt } from '../../schemas/types.ts';
import type { TaskRunner } from '../engine/execute-tasks.ts';
import type { Memo, MemoEntry } from '../engine/memo.ts';
import type { IpvmNode } from '../engine/node.ts';
import { SecretError } from './errors.ts';
import type { SecretStore } from './secrets.ts';
import { resolveSecrets, type TaintTracker } from './taint.ts';

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

/** The facade over the shared and the node-local engine. */
export function routeTainted(init: {
  shared: IpvmNode;
  local: IpvmNode;
  taint: TaintTracker;
}): IpvmNode {
  const { shared, local, taint } = init;
  const redact = (e: ReceiptEvent): ReceiptEvent =>
    taint.isTainted(e.instruction.toString()) ? { ...e, body: redactBody(e.body) } : e;
  const redactEntry = (e: MemoEntry | undefined): MemoEntry | undefined =>
    e === undefined || !taint.isTainted(e.instruction.toString())
      ? e
      : { ...e, body: redactBody(e.body) };
  const memo: Memo = {
    get: (key) => redactEntry(shared.memo.get(key) ?? local.memo.get(key)),
    written: (i, w) => shared.memo.written(i, w) || local.memo.written(i, w),
    attempted: (i, w) => shared.memo.attempted(i, w) || local.memo.attempted(i, w),
    put: (e) => shared.memo.put(e),
    putLazy: (r, load) => shared.memo.putLazy(r, load),
    get size() {
      return shared.memo.size + local.memo.size;
    },
    *entries() {
      yield* shared.memo.entries();
      for (const e of local.memo.entries()) yield redactEntry(e)!;
    },
  };
  const node: IpvmNode = {
    memo,
    topology: shared.topology,
    nodeId: shared.nodeId,
    async submit(workflow, options) {
      const parsed = isParsedWorkflow(workflow) ? workflow : parseWorkflow(workflow);
      const tainted = taint.analyse(parsed); // throws SecretError before anything is written
      // Parsed once: a `{name, workflow}` wrapper's name travels in `parsed.name`.
      return (tainted.size > 0 ? local : shared).submit(parsed, options);
    },
    receipts(workflow): Observable<ReceiptEvent> {
      return merge(shared.receipts(workflow), local.receipts(workflow).pipe(map(redact)));
    },
    async cancel(workflow, options) {
      // A workflow runs on one of the two nodes: the local one when it handles secrets.
      try {
        await local.cancel(workflow, options);
      } catch (err) {
        if (!(err instanceof WorkflowNotRunningError) || err.state !== 'unknown') throw err;
        await shared.cancel(workflow, options);
      }
    },
    ends: () => merge(shared.ends(), local.ends()),
    async ended(workflow, options) {
      const ac = new AbortController();
      const abort = (): void => ac.abort(options?.signal?.reason);
      options?.signal?.addEventListener('abort', abort, { once: true });
      try {
        return await Promise.race([
          shared.ended(workflow, { signal: ac.signal }),
          local.ended(workflow, { signal: ac.signal }),
        ]);
      } finally {
        options?.signal?.removeEventListener('abort', abort);
        ac.abort();
      }
    },
    async close() {
      await Promise.all([shared.close(), local.close()]);
    },
    [Symbol.asyncDispose]() {
      return node.close();
    },
  };
  return node;
}
