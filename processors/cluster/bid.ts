/**
 * Whether a node can run a placed task, and what it bids: pure functions of the task's
 * {@link Placement}, the node's capabilities and its {@link CostHistory}.
 *
 * @module
 */
import { REQUIRED_NEEDS, type Need, type Placement } from '../../schemas/placement.ts';
import { parseAllowList, type AllowEntry } from '../effects/allow-list.ts';
import { moduleCid, type CostHistory } from './cost-history.ts';

/** What a node can do, as placement sees it. */
export interface NodeCapabilities {
  /** The node id (its DID). */
  nodeId: string;
  /** Its `--allow-net` entries (`127.0.0.1:8080`, `api.example.com`). */
  effectHosts: readonly string[];
  /** Names of the secrets it holds. */
  secrets: readonly string[];
}

/** A bid's price and what it was computed from. */
export interface Bid {
  /** Expected milliseconds until the result: the lower, the better. */
  costMs: number;
  /** Measured mean duration of the function here, or null when it never ran here. */
  expectedMs: number | null;
  /** The module is compiled here. */
  compiled: boolean;
  /** `data:` needs held locally, out of how many. */
  dataLocal: number;
  dataNeeded: number;
  /** Free task slots. */
  free: number;
}

/** Costs assumed where nothing was measured. */
export const BID_DEFAULTS = {
  /** A function never run here. */
  unknownRunMs: 10,
  /** Loading and compiling a module not cached here (a Wasm compile plus fetch). */
  compileMs: 150,
  /** Fetching one block not held here. */
  fetchMs: 50,
} as const;

/** Why `self` cannot run the task (node or required need), or undefined when it can. */
export function unmetBy(placement: Placement, self: NodeCapabilities): string | undefined {
  if (placement.node !== undefined && placement.node !== self.nodeId)
    return `node: the task names ${placement.node}`;
  for (const need of placement.needs) {
    if (!REQUIRED_NEEDS.has(need.kind)) continue;
    if (need.kind === 'secret' && !self.secrets.includes(need.value))
      return `${need.text}: no secret ${need.value}`;
    if (need.kind === 'net' && !allowsNet(need, self.effectHosts))
      return `${need.text}: not in --allow-net (${self.effectHosts.join(',') || 'none'})`;
  }
  return undefined;
}

/** Whether an `--allow-net` list covers a `net:` need (a need without a port wants every port). */
function allowsNet(need: Need, hosts: readonly string[]): boolean {
  let wanted: AllowEntry;
  try {
    wanted = parseAllowList(need.value).entries[0]!;
  } catch {
    return false;
  }
  return parseAllowList(hosts).entries.some(
    (e) => e.host === wanted.host && (e.port === undefined || e.port === wanted.port),
  );
}

/**
 * Prices a bid: the expected run time from the history (a default when the function never ran
 * here), plus a compile when the module is not cached here and a fetch per `data:` block not
 * held; scaled up by the queue when no slot is free.
 */
export function bidFor(
  task: { rsc: string; func: string; needs: readonly Need[] },
  history: CostHistory,
  state: { running: number; concurrency: number; dataLocal: (cid: string) => boolean },
): Bid {
  const measured = history.cost(task.rsc, task.func);
  const compiled =
    history.compiled(task.rsc) &&
    task.needs.every((n) => n.kind !== 'module' || history.compiled(n.value));
  const data = task.needs.filter((n) => n.kind === 'data');
  const dataLocal = data.filter((n) => state.dataLocal(moduleCid(n.value))).length;
  const runMs = measured?.meanMs ?? BID_DEFAULTS.unknownRunMs;
  const free = Math.max(0, state.concurrency - state.running);
  // With no free slot the task waits for about one run per task queued ahead of each slot.
  const queueMs =
    free > 0 ? 0 : runMs * (1 + (state.running - state.concurrency) / state.concurrency);
  const costMs =
    runMs +
    queueMs +
    (compiled ? 0 : BID_DEFAULTS.compileMs) +
    (data.length - dataLocal) * BID_DEFAULTS.fetchMs;
  return {
    costMs,
    expectedMs: measured?.meanMs ?? null,
    compiled,
    dataLocal,
    dataNeeded: data.length,
    free,
  };
}

/** The winning bid: the lowest cost, ties to the lowest node id (every node agrees). */
export function bestBid<B extends { node: string; costMs: number }>(
  bids: Iterable<B>,
): B | undefined {
  let best: B | undefined;
  for (const b of bids)
    if (
      best === undefined ||
      b.costMs < best.costMs ||
      (b.costMs === best.costMs && b.node < best.node)
    )
      best = b;
  return best;
}
