// The cluster contract: membership on the `nodes` stream and workflow ownership.
import type { Log } from '../../streams/log.ts';
import type { ClusterSeam } from '../engine/node.ts';

/** @default 1000 */
export const DEFAULT_HEARTBEAT_MS = 1_000;

/** How long a workflow's owner waits for bids on an offer (see `matchmaker.ts`). @default 500 */
export const DEFAULT_BID_WINDOW_MS = 500;

/** What a node says about itself on the `nodes` stream, once per heartbeat. */
export interface NodeAnnouncement {
  /** The node id (its DID when it has one); written as `executor` on receipts. */
  id: string;
  /** libp2p peer id of the node's content exchange, when it runs one. */
  peerId?: string;
  /** libp2p multiaddrs the node listens on (with `/p2p/<peerId>`). */
  addrs: string[];
  /** Tasks running now and the most it runs at once. */
  load: { running: number; concurrency: number };
  /** Wasm modules compiled and cached by the node. */
  modules: number;
  /** CIDs of the modules that ran here lately (bids prefer a node that has the module). */
  compiled?: string[];
  /** What the node may do: hosts its effects may reach, names of secrets it holds. */
  capabilities: { effectHosts: string[]; secrets: string[] };
  /**
   * Records of `invocations` and the receipt streams the node has not folded yet, as last
   * measured (null before the first measure).
   */
  lag: number | null;
  /** Milliseconds since the epoch (the sender's clock). */
  at: number;
  /** Set on the last announcement of a node that closes. */
  leaving?: boolean;
}

/** Construction options of {@link joinCluster}. */
export interface MembershipInit {
  /** The streams (the node's log). Not closed by the membership. */
  log: Log;
  /** Stream namespace: the membership stream is `<namespace>.nodes`. */
  namespace: string;
  nodeId: string;
  /** What to announce (called once per heartbeat). */
  announce: () => Omit<NodeAnnouncement, 'id' | 'at' | 'leaving'>;
  /** @default DEFAULT_HEARTBEAT_MS */
  heartbeatMs?: number;
  /**
   * A node silent for this long is gone. Counted in this node's own heartbeats read back
   * (ttlMs / heartbeatMs of them), so a stall here never expires the others.
   * @default 3 × heartbeatMs + 500
   */
  ttlMs?: number;
  clock?: () => number;
  signal?: AbortSignal;
  onError?: (error: Error) => void;
}

/** A node's view of the cluster; plugs into `createNode({ cluster })`. */
export interface Membership extends ClusterSeam, AsyncDisposable {
  readonly nodeId: string;
  /** The node that schedules `workflow` in the current view. */
  owner(workflow: string): string;
  /** Ids of the live nodes, this one included, sorted. */
  live(): string[];
  /** The last announcement of every other live node. */
  peers(): NodeAnnouncement[];
  /** Announces leaving (so others take over at once) and stops heartbeating. Idempotent. */
  close(): Promise<void>;
}
