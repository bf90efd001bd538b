/**
 * place: the executor's one hook for placement. A ready task whose `meta` names `node` or
 * `needs` goes to the {@link PlacementSeam} instead of the runner; its consumed record is done
 * once the task is handed on: run here (after its receipt, as any task), refused (its receipt
 * written), or handed on durably elsewhere (an offer on the cluster's `offers` stream). The seam
 * gives tasks back through {@link PlacementHooks}: `run` (awarded here), `refuse` (an error
 * receipt with the reason). Every other task passes through untouched.
 *
 * @module
 */
import { filter, type MonoTypeOperatorFunction, type Subject } from '../rx/index.ts';
import type { LogRecord } from '../../streams/log.ts';
import type { TaskReadyEvent } from '../../schemas/events.ts';
import { hasPlacement } from '../../schemas/placement.ts';
import type { Core, ReadyItem } from './core.ts';
import type { CommitTracker } from './commit-tracker.ts';
import { failure, newReceiptEvent } from './receipts.ts';

/** Routes placed tasks to `core.init.placement`; `local` is where tasks awarded here go. */
export function placeTasks(
  core: Core,
  tracker: CommitTracker,
  local: Subject<ReadyItem>,
): MonoTypeOperatorFunction<ReadyItem> {
  const placement = core.init.placement!;
  const awarded = new WeakSet<TaskReadyEvent>();
  // The consumed record of a task handed to placement, done when the task is handed on: run
  // here (the record then travels with it), refused (its receipt written), or placed elsewhere.
  const held = new WeakMap<TaskReadyEvent, LogRecord>();
  const release = (event: TaskReadyEvent): void => {
    const record = held.get(event);
    if (record === undefined) return;
    held.delete(event);
    tracker.end(record);
  };
  // A receipt was written for the task's workflow: a result, or a retryable failure (such as
  // `unplaced`) after which only a new release (recovery, a re-run) tries again.
  const settled = (event: TaskReadyEvent): boolean => {
    const instruction = event.instruction.toString();
    const workflow = event.workflow?.toString() ?? null;
    return core.memo.written(instruction, workflow) || core.memo.attempted(instruction, workflow);
  };
  placement.attach({
    run(event) {
      awarded.add(event);
      const record = held.get(event) ?? null;
      held.delete(event);
      local.next({ record, event });
    },
    async refuse(event, reason) {
      if (settled(event)) return release(event);
      // Retryable: the instruction is fine, the cluster could not place it (not memoized).
      const receipt = newReceiptEvent({
        instruction: event.instruction,
        invocation: event.invocation,
        workflow: event.workflow,
        run: event.task.run,
        out: failure('unplaced', reason, true),
        fuel: null,
        durationMs: null,
        executor: core.nodeId,
        at: Date.now(),
      });
      core.memo.put(receipt);
      await core.appendReceipt(receipt);
      release(event);
    },
    settled,
  });
  return filter((item) => {
    if (awarded.has(item.event) || !hasPlacement(item.event.task.meta)) return true;
    if (item.record !== null) held.set(item.event, item.record);
    placement.place(item.event).then(() => release(item.event), core.fail);
    return false;
  });
}
