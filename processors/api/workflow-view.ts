/**
 * What `ipvm status` prints and the API's `ipvm_status` answers: a workflow folded from the log
 * with its tasks and their receipts (the fold itself is `processors/api/log-view.ts`). Types only.
 *
 * @module
 */

/** What is known of one task of a workflow. */
export interface TaskView {
  index: number;
  instruction: string;
  func: string;
  /** Indices of the tasks it awaits inside the workflow, with the await kind. */
  awaits: Array<{ task: number; selector: string }>;
  /** Awaited instructions outside the workflow. */
  external: string[];
  status: 'pending' | 'ok' | 'error';
  replayed: boolean;
  receipt: string | null;
  /** One line for its receipt's outcome (`→ 2`, `✗ Kind: message`), once it has one. */
  output?: string;
  /** Set for effect tasks: which effect stream their receipt goes to. */
  effect?: 'pure' | 'managed';
}

/** What is known of one workflow. */
export interface WorkflowView {
  workflow: string;
  name: string | null;
  status: 'running' | 'completed' | 'failed';
  /** Times submitted. */
  submissions: number;
  submittedAt: number;
  endedAt: number | null;
  reason: string | null;
  tasks: TaskView[];
  /** Tasks with a receipt. */
  done: number;
  ok: number;
  errors: number;
  /** Receipts replayed from the memo for it, over all its runs. */
  replayed: number;
  /**
   * While it runs: awaits of instructions no task of it produces and no receipt in the log
   * answers (`#task awaits CID`) — it waits for them until the node's await timeout.
   */
  unknownAwaits: string[];
}
