/**
 * Cancelling a running workflow: the request event and the error when there is nothing to
 * cancel. The scheduler folds the request (`schedule-tasks.ts`); this module only builds it.
 *
 * @module
 */
import type { CID } from 'multiformats/cid';
import type { WorkflowCancelEvent } from '../../schemas/events.ts';

/**
 * The workflow is not running: it ended already, or this node never saw it. Terminal: the same
 * request never succeeds (a re-run can be cancelled once submitted).
 */
export class WorkflowNotRunningError extends Error {
  override name = 'WorkflowNotRunningError';
  readonly retryable = false;
  /** The workflow CID asked for. */
  readonly workflow: string;
  /** `ended` (it reached its end) or `unknown` (never submitted here). */
  readonly state: 'ended' | 'unknown';
  constructor(workflow: string, state: 'ended' | 'unknown') {
    super(
      state === 'ended'
        ? `workflow ${workflow} cannot be cancelled: it has already ended`
        : `workflow ${workflow} cannot be cancelled: this node knows no such workflow`,
    );
    this.workflow = workflow;
    this.state = state;
  }
}

/** The `workflow/cancel` request for `workflow`, with the proofs of the right to cancel. */
export function cancelEvent(
  workflow: CID,
  reason: string | null,
  at: number,
  proofs?: Record<string, string>,
): WorkflowCancelEvent {
  return {
    type: 'workflow/cancel',
    workflow,
    reason,
    ...(proofs === undefined ? {} : { proofs }),
    at,
  };
}
