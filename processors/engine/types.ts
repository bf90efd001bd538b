/**
 * The engine's contract: what {@link createNode} takes and what a running node offers.
 *
 * @module
 */
import type { Observable } from '../rx/index.ts';
import type { CID } from 'multiformats/cid';
import type { Log } from '../../streams/log.ts';
import type { Topology, TopologyInit } from '../../streams/topology.ts';
import type { ReceiptEvent, TaskReadyEvent, WorkflowEndedEvent } from '../../schemas/events.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import type { ParsedWorkflow } from '../../schemas/model.ts';
import type { HeldBytes } from './key-index.ts';
import type { Memo } from './memo.ts';
import type { UnknownAwait } from './schedule-tasks.ts';
import type { ExecuteProgress, TaskRunner } from './execute-tasks.ts';
import type { RetryOptions, TaskRetryPolicy } from '../retry.ts';
import type { Authority, ProofMap } from '../auth/types.ts';
import type { EffectsProgress } from '../effects/engine.ts';
import type { EffectRunner } from '../effects/effect-runner.ts';

/** Construction options of {@link createNode}. */
export interface NodeInit {
  /** The streams. The node does not close it. */
  log: Log;
  /** The Wasm runtime. */
  runner: TaskRunner;
  /** Stream names and partitions. */
  topology?: Topology | TopologyInit;
  /** Written as `executor` on receipts. @default a random UUID */
  nodeId?: string;
  /** Tasks executed at once. @default 16 */
  concurrency?: number;
  /** @default 600_000 */
  workflowTimeoutMs?: number;
  /**
   * How long a workflow may wait for an await that nothing known can resolve (no task of it,
   * no running workflow, not in the memo) before it fails. @default 60_000
   */
  awaitTimeoutMs?: number;
  /**
   * Most tasks released (task/ready written) and not yet answered by a receipt at once, over
   * every workflow this node schedules; more wait as indices in the scheduler. Bounds the
   * memory of a wide workflow by the window, not by its width. @default 4096
   */
  releaseWindow?: number;
  /** How often deadlines are checked. @default 1_000 */
  tickIntervalMs?: number;
  /** How often consumed positions are committed. @default 50 */
  commitIntervalMs?: number;
  /** Retries of the node's own reads at start-up (a broker that is not serving yet). */
  retry?: RetryOptions;
  /**
   * Retries of a task's retryable failures when its `meta.retry` does not say.
   * @default DEFAULT_TASK_RETRY (3 attempts, 100 ms backoff doubling up to 5 s)
   */
  taskRetry?: TaskRetryPolicy;
  /**
   * Start a pure task's dependents from its receipt in memory while the receipt's append is in
   * flight (a chain step does not wait for an fsync). What acknowledges anything — a workflow's
   * end, an effect's release — still waits until the receipts it stands on are durable; a crash
   * loses only work that is recomputed to the same CIDs. A submission made here that the memo
   * answers wholly is folded at once and appended with its end, in one append (see
   * {@link NodeInit.pipelineSubmissions}). Off in a cluster.
   * @default true
   */
  pipeline?: boolean;
  /**
   * With `pipeline`: fold a submission made here that the memo answers wholly at once and append
   * it with its end (a memo hit costs one append, not two in turn). False folds every submission
   * when read back (`bench/submit-early.bench.ts` compares the two). @default true
   */
  pipelineSubmissions?: boolean;
  /**
   * With `pipeline`: a pure task handed to this node's own executor gets its task/ready record
   * only if it is still running this long after its release (the record carries the release
   * time). Nearly every pure task ends sooner, and its receipt says what the record would: a
   * step costs one record less. 0 writes every record at once.
   * @default DEFAULT_READY_RECORD_AFTER_MS (50 ms)
   */
  readyRecordAfterMs?: number;
  /**
   * Directory for the node's scratch files: the memo's and the ended registry's packed entries,
   * past the 256 KiB slab each is filling, and the bytes of the CIDs they are kept by, past the
   * newest 128 KiB of each index, live in files there (unlinked at once; rebuilt from the log at
   * every start) instead of in memory, and are read back on a hit older than the few thousand
   * kept decoded (processors/engine/README.md, Memory). A distinct workflow the node has seen
   * then keeps ~70 B of memory instead of ~500. Without it they stay in memory.
   */
  spillDir?: string;
  /** Run the executor (false: a scheduling-only node). @default true */
  execute?: boolean;
  /**
   * Runs effect ops (`http/*`, `random/bytes`, `time/now`; see `processors/effects/`). Without
   * it effect tasks get an `unsupported` error receipt.
   */
  effects?: EffectRunner;
  /**
   * Screens the follow-up workflow a result's `fx` asks for, before it is submitted: a reason
   * refuses it (`effect:emit-refused`). The node-local engine refuses effects that would send
   * a secret-derived result to a host the secret may not go to.
   */
  screenFollowUp?: (workflow: IpldValue, cause: ReceiptEvent) => string | undefined;
  onProgress?: (event: NodeProgress) => void;
  /**
   * Who may run what, and who signed what (`processors/auth/`). With it, submissions are
   * authorized before anything is appended (refused: an `AuthError` from `submit`, a
   * dead-letter for one read from the stream), in `ucan` mode a ready task runs only for a
   * workflow authorized here, every receipt written is signed, and receipts read from the
   * streams are verified before they reach the memo (refused: dead-letter). Without it the
   * node behaves as `open` and writes unsigned receipts.
   */
  authority?: Authority;
  /**
   * Scale-out seam (`processors/cluster/`): with several nodes on one namespace, each workflow
   * is scheduled by one owner, and released tasks reach executors only through the shared
   * `executor` consumer (no local fast path), so the work spreads over the nodes.
   */
  cluster?: ClusterSeam;
  /**
   * Placement seam (`processors/cluster/`): a ready task whose `meta` names `node` or `needs`
   * is handed to it instead of being run here; it gives the task back to run
   * ({@link PlacementHooks.run}) on the node it picks, or refuses it with a reason. Without
   * it placement is validated at submission and not enforced (the task runs where it is drawn).
   */
  placement?: PlacementSeam;
}

/** What the executor asks of placement (see `processors/cluster/README.md`). */
export interface PlacementSeam {
  /**
   * At submission: throws a located error (`tasks[i].meta.node`) for a task this node knows
   * cannot be placed (a single node whose id or capabilities do not match).
   */
  check(meta: unknown, path: string): void;
  /** Takes a ready task with `meta.node`/`meta.needs`; resolves once it is handed on durably. */
  place(event: TaskReadyEvent): Promise<void>;
  /** Connects the executor's hooks; called once when the executor starts. */
  attach(hooks: PlacementHooks): void;
  /** A receipt this node computed (the cost history bids use). */
  observe(receipt: ReceiptEvent): void;
}

/** How placement hands tasks back to the executor. */
export interface PlacementHooks {
  /** Runs `event` here (it was awarded to this node). */
  run(event: TaskReadyEvent): void;
  /** Writes the task's error receipt (kind `unplaced`) with the reason. */
  refuse(event: TaskReadyEvent, reason: string): Promise<void>;
  /**
   * Whether a receipt was written for the task in its workflow: a result, or a retryable
   * failure (tried; only a new release tries again).
   */
  settled(event: TaskReadyEvent): boolean;
}

/** What the node asks of a cluster (see `processors/cluster/`). */
export interface ClusterSeam {
  /** Whether this node schedules `workflow` now. */
  owns(workflow: string): boolean;
  /** Calls `listener` whenever ownership may have changed; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}

/** Progress events of a node. */
export type NodeProgress =
  | ExecuteProgress
  | EffectsProgress
  | { type: 'node:recovered'; receipts: number; invocations: number; emitted: number; ms: number }
  | { type: 'node:dead-letter'; stream: string; partition: number; offset: number; reason: string }
  | { type: 'node:error'; error: unknown }
  | {
      /** A submitted workflow awaits instructions nothing known produces (see submit). */
      type: 'node:await-unknown';
      workflow: string;
      awaits: UnknownAwait[];
      timeoutMs: number;
    };

/** A running node. */
export interface IpvmNode {
  /** The in-process memo (instruction CID → receipt). */
  readonly memo: Memo;
  /**
   * What the node keeps for its whole life of every workflow and instruction it has seen —
   * receipts, ends, the CIDs that name them and the numbers kept by them — by where: in memory,
   * or in the spill files of `NodeInit.spillDir` (processors/engine/README.md, Memory).
   */
  history(): HeldBytes;
  readonly topology: Topology;
  readonly nodeId: string;
  /**
   * Validates a workflow and appends it to `invocations`. The result's `warnings` also name
   * each await that no task of the workflow, no running workflow and the memo can resolve
   * (located: task path and CID); such a workflow fails after `awaitTimeoutMs` unless the
   * receipt appears. `name` is shown by `ipvm status` (a `{name, workflow}` wrapper's wins).
   * A workflow `parseWorkflow` returned is taken as it is (not parsed again).
   */
  submit(
    workflow: ParsedWorkflow | Uint8Array | string | IpldValue,
    options?: { signal?: AbortSignal; name?: string | null; proofs?: ProofMap },
  ): Promise<ParsedWorkflow>;
  /** Live receipt events (all, or one workflow's), from now on. */
  receipts(workflow?: CID): Observable<ReceiptEvent>;
  /** Live workflow end events. */
  ends(): Observable<WorkflowEndedEvent>;
  /**
   * Asks the scheduler to cancel a running workflow (appends a `workflow/cancel` request): no
   * task of it is released any more, tasks already running finish, then it ends `failed` with a
   * reason starting `cancelled`. Resolves once the request is appended; a second request for
   * the same run changes nothing. In `ucan` mode `proofs` must grant `workflow/cancel` on
   * `ipvm:workflow:<cid>`; they travel on the request, so every node folding it checks them.
   * @throws {AuthError} not authorized (checked first)
   * @throws {WorkflowNotRunningError} ended or unknown
   */
  cancel(
    workflow: CID,
    options?: { reason?: string | null; signal?: AbortSignal; proofs?: ProofMap },
  ): Promise<void>;
  /** Resolves when the workflow ends (at once if it already has). */
  ended(workflow: CID, options?: { signal?: AbortSignal }): Promise<WorkflowEndedEvent>;
  /**
   * Records of `invocations` and the receipt streams this node has not folded yet (appended,
   * not yet read by its live follow): how far its memo and scheduler are behind the log. 0 when
   * caught up; on JetStream an upper bound while behind (see `Log.ends`).
   */
  behind(options?: { signal?: AbortSignal }): Promise<number>;
  /** Graceful drain: stops reading, finishes appends and commits. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
