/**
 * The node: the engine's stages wired to a {@link Log}.
 *
 * ```
 * invocations ─┬─ schedule ──► invocations (task/ready, replayed receipts, workflow end)
 * pure ────────┘      ▲
 *   ▲                 └─ memo (fold of pure / effects.pure)
 *   └── execute ◄── invocations (task/ready, consumer "executor")
 * ```
 *
 * {@link createNode} is a facade: `core.ts` holds the shared state, `recovery.ts` folds what is
 * written, `live.ts` follows the streams, `executor-stage.ts` runs ready tasks. Start-up is
 * recovery; only then do the stages follow the streams. The same path rebuilds a node from
 * offset 0 after a crash, so "replay mode" is not a special mode.
 *
 * @module
 */
import type { NodeEvent } from '../../schemas/events.ts';
import { isParsedWorkflow, parseWorkflow } from '../../schemas/model.ts';
import { hasPlacement } from '../../schemas/placement.ts';
import { DEFAULT_AWAIT_TIMEOUT_MS, type UnknownAwait } from './schedule-tasks.ts';
import { readRetryPolicy } from '../retry.ts';
import { WorkflowNotRunningError, cancelEvent } from './cancel.ts';
import { createCore } from './core.ts';
import { routeByKey } from './operators.ts';
import { recover } from './recovery.ts';
import { followStreams } from './live.ts';
import { startExecutor, type ExecutorStage } from './executor-stage.ts';
import { sumHeld } from './key-index.ts';
import type { IpvmNode, NodeInit } from './types.ts';

export type { HeldBytes } from './key-index.ts';
export type {
  ClusterSeam,
  IpvmNode,
  NodeInit,
  NodeProgress,
  PlacementHooks,
  PlacementSeam,
} from './types.ts';

/** Creates a node and runs its recovery; it is processing when the promise resolves. */
export async function createNode(init: NodeInit): Promise<IpvmNode> {
  const core = await createCore(init);
  const { memo, scheduler, authority, streams, topology, nodeId, progress, fail } = core;
  const recovered = await recover(core);
  const subscriptions = followStreams(core, recovered);
  const executor: ExecutorStage | undefined =
    init.execute === false ? undefined : startExecutor(core);
  if (executor !== undefined) subscriptions.push(executor.subscription);
  const commitTimer = setInterval(
    () => void executor?.commit().catch(fail),
    init.commitIntervalMs ?? 50,
  );
  // Ownership moved (a node joined or left): write what is due for the runs owned now.
  const unwatchCluster = init.cluster?.onChange(
    () => void core.write(scheduler.flush()).catch(fail),
  );
  const tickTimer = setInterval(
    () => void core.write(scheduler.tick()).catch(fail),
    init.tickIntervalMs ?? 1_000,
  );

  // A workflow's receipts and end, to the observers of that workflow only (one lookup per event).
  const receiptsOf = routeByKey(core.receipts$, (r) => r.workflow?.toString());
  const endOf = routeByKey(core.ends$, (e) => e.workflow.toString());

  let closing: Promise<void> | undefined;
  const node: IpvmNode = {
    memo,
    history: () =>
      sumHeld([
        memo.keptBytes(),
        core.ended.keptBytes(),
        { memory: core.bodies.bytes + core.workflows.bytes, file: core.workflows.spilledBytes },
      ]),
    topology,
    nodeId,
    async submit(workflow, options) {
      const parsed = isParsedWorkflow(workflow) ? workflow : parseWorkflow(workflow);
      for (const t of parsed.tasks) {
        readRetryPolicy(t.task.meta, undefined, `tasks[${t.index}].meta`);
        if (hasPlacement(t.task.meta)) init.placement?.check(t.task.meta, `tasks[${t.index}].meta`);
      }
      const key = parsed.cid.toString();
      const at = Date.now();
      core.authorizeSubmission(parsed, options?.proofs, at); // throws AuthError
      // A re-run references the body an earlier submission wrote instead of copying it. Not in
      // a cluster: peers fold submissions live and would each have to read the body back.
      const source = init.cluster === undefined ? core.bodies.get(key) : undefined;
      const event: NodeEvent = {
        type: 'workflow/submitted',
        workflow: parsed.cid,
        body: source === undefined ? parsed.workflow : null,
        ...(source === undefined ? {} : { source: { ...source, tasks: parsed.tasks.length } }),
        name: parsed.name ?? options?.name ?? null,
        ...(options?.proofs === undefined ? {} : { proofs: options.proofs }),
        at,
      };
      const unknown = scheduler.unknownAwaits(parsed);
      const awaitTimeoutMs = init.awaitTimeoutMs ?? DEFAULT_AWAIT_TIMEOUT_MS;
      if (unknown.length > 0) {
        progress({
          type: 'node:await-unknown',
          workflow: key,
          awaits: unknown,
          timeoutMs: awaitTimeoutMs,
        });
      }
      core.parsedSubmissions.set(event, parsed); // the scheduler reuses this parse
      if (core.ended.has(key)) core.ended.rerunning.add(key);
      // In a cluster the run's owner folds it, when read back; alone, this node folds a run the
      // memo answers wholly at once (core.submitEarly).
      if (
        init.cluster === undefined &&
        init.pipeline !== false &&
        init.pipelineSubmissions !== false
      )
        await core.submitEarly(event);
      else await core.appendEvents(streams.invocations, [event], [key]);
      options?.signal?.throwIfAborted();
      if (unknown.length === 0) return parsed;
      return {
        ...parsed,
        warnings: [
          ...parsed.warnings,
          ...unknown.map((u) => unknownAwaitWarning(u, awaitTimeoutMs)),
        ],
      };
    },
    receipts(workflow) {
      const key = workflow?.toString();
      return key === undefined ? core.receipts$.asObservable() : receiptsOf.observe(key);
    },
    async cancel(workflow, options) {
      const key = workflow.toString();
      const at = Date.now();
      // Before anything is said about the workflow: whether it runs is not for everyone.
      authority?.authorizeCancel(key, options?.proofs, { atMs: at }); // throws AuthError
      if (!scheduler.running(key))
        throw new WorkflowNotRunningError(key, core.ended.has(key) ? 'ended' : 'unknown');
      const event = cancelEvent(workflow, options?.reason ?? null, at, options?.proofs);
      await core.appendEvents(streams.invocations, [event], [key]);
      options?.signal?.throwIfAborted();
    },
    ends: () => core.ends$.asObservable(),
    async behind(options) {
      let n = 0;
      for (const [stream, at] of core.followed) {
        const ends = await core.log.ends(stream, options);
        for (const [p, end] of Object.entries(ends)) n += Math.max(0, end - (at[Number(p)] ?? 0));
      }
      return n;
    },
    ended(workflow, options) {
      const key = workflow.toString();
      return new Promise((resolve, reject) => {
        const sub = endOf.observe(key).subscribe((e) => {
          sub.unsubscribe();
          resolve(e);
        });
        const known = core.ended.rerunning.has(key) ? undefined : core.ended.get(key);
        if (known !== undefined) {
          sub.unsubscribe();
          resolve(known);
        }
        options?.signal?.addEventListener(
          'abort',
          () => {
            sub.unsubscribe();
            reject(options.signal!.reason as Error);
          },
          { once: true },
        );
      });
    },
    close() {
      // Reading stops first; tasks already running finish and are written.
      closing ??= (async () => {
        clearInterval(tickTimer);
        clearInterval(commitTimer);
        unwatchCluster?.();
        core.abort();
        await executor?.drain();
        core.readyLater?.close(); // their records are optional (ready-later.ts)
        for (const s of subscriptions) s.unsubscribe();
        await core.appender.drain();
        await executor?.commit().catch(fail);
        core.receipts$.complete();
        core.ends$.complete();
        core.memo.close();
        core.ended.close();
        core.workflows.close();
      })();
      return closing;
    },
    [Symbol.asyncDispose]() {
      return node.close();
    },
  };
  core.submitFollowUp = (workflow) => node.submit(workflow);
  return node;
}

/** The located warning for an await nothing known can resolve. */
export function unknownAwaitWarning(u: UnknownAwait, timeoutMs: number): string {
  return `${u.path}: awaits ${u.instruction}, which is not produced by this workflow and not in the memo; the workflow fails if its receipt has not appeared within ${timeoutMs} ms`;
}
