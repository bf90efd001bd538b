// Membership: every node heartbeats on the `nodes` stream of its namespace and follows it, so
// each node knows the live ones. Workflows are owned by rendezvous hashing over the live ids:
// every node computes the same owner from the same view, and when a node stops heartbeating
// (killed) or says it leaves (closed) its workflows move to the survivors.
import { createHash } from 'node:crypto';
import type { Log } from '../../streams/log.ts';
import { withRetry } from '../retry.ts';
import { deadLetterFor } from '../../streams/dead-letter.ts';
import type { LogRecord } from '../../streams/log.ts';
import { createTopology } from '../../streams/topology.ts';
import { AnnouncementError, ClusterError } from './errors.ts';
import {
  DEFAULT_HEARTBEAT_MS,
  type Membership,
  type MembershipInit,
  type NodeAnnouncement,
} from './types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The `nodes` stream of a namespace (`ipvm` → `ipvm.nodes`). */
export function nodesStream(namespace: string): string {
  return namespace === '' ? 'nodes' : `${namespace}.nodes`;
}

/**
 * Decodes one heartbeat.
 * @throws {AnnouncementError} naming the field, for a record that is not one (another producer)
 */
export function decodeAnnouncement(bytes: Uint8Array): NodeAnnouncement {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw new AnnouncementError('value', 'not JSON', { cause: err });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new AnnouncementError('value', 'expected a JSON object');
  const a = v as Partial<NodeAnnouncement>;
  if (typeof a.id !== 'string' || a.id === '')
    throw new AnnouncementError('id', 'expected a non-empty string');
  if (typeof a.at !== 'number') throw new AnnouncementError('at', 'expected a number (ms)');
  return a as NodeAnnouncement;
}

function announcementOrUndefined(bytes: Uint8Array): NodeAnnouncement | undefined {
  try {
    return decodeAnnouncement(bytes);
  } catch {
    return undefined;
  }
}

/** Rendezvous (highest random weight) choice of one id among `ids` for `key`. */
export function rendezvous(ids: readonly string[], key: string): string | undefined {
  let best: string | undefined;
  let bestWeight = '';
  for (const id of ids) {
    const w = createHash('sha256').update(id).update('\u0000').update(key).digest('hex');
    if (best === undefined || w > bestWeight) {
      best = id;
      bestWeight = w;
    }
  }
  return best;
}

/**
 * Reads the `nodes` stream for `waitMs` from now and returns the nodes that heartbeated
 * (the last announcement of each, leaving ones removed). For `ipvm nodes`.
 */
export async function listLiveNodes(
  log: Log,
  namespace: string,
  options: { waitMs?: number; signal?: AbortSignal } = {},
): Promise<NodeAnnouncement[]> {
  const stream = nodesStream(namespace);
  await log.ensureStreams([{ name: stream, partitions: 1 }], { signal: options.signal });
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  options.signal?.addEventListener('abort', stop, { once: true });
  const timer = setTimeout(stop, options.waitMs ?? DEFAULT_HEARTBEAT_MS * 1.5);
  const seen = new Map<string, NodeAnnouncement>();
  try {
    for await (const r of log.read(stream, {
      from: 'latest',
      follow: true,
      signal: controller.signal,
    })) {
      const a = announcementOrUndefined(r.value); // the joined nodes dead-letter bad ones
      if (a === undefined) continue;
      if (a.leaving === true) seen.delete(a.id);
      else seen.set(a.id, a);
    }
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', stop);
  }
  return [...seen.values()].sort((a, b) => a.id.localeCompare(b.id));
}

/**
 * Joins the namespace's cluster: heartbeats, follows the other nodes, and decides which
 * workflows this node schedules. Resolves once one heartbeat interval has passed, so the view
 * holds every node that is up.
 */
export async function joinCluster(init: MembershipInit): Promise<Membership> {
  const { log, nodeId } = init;
  const intervalMs = init.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const ttlMs = init.ttlMs ?? intervalMs * 3 + 500;
  // Silence is measured in this node's own heartbeats read back from the stream, not in wall
  // time: a node whose event loop stalls (parsing a large workflow) or whose reads lag would
  // otherwise declare everyone dead, own every workflow and write what the others write.
  const missedBeats = Math.max(2, Math.ceil(ttlMs / intervalMs));
  let beats = 0;
  const heardAt = new Map<string, number>();
  const clock = init.clock ?? Date.now;
  const stream = nodesStream(init.namespace);
  const controller = new AbortController();
  const peers = new Map<string, NodeAnnouncement>();
  const listeners = new Set<() => void>();
  let ids: string[] = [nodeId];
  const owners = new Map<string, boolean>();
  let closed = false;

  await withRetry(
    () => log.ensureStreams([{ name: stream, partitions: 1 }], { signal: init.signal }),
    { attempts: 10, baseDelayMs: 100, signal: init.signal },
  );

  const recompute = (): void => {
    for (const id of peers.keys()) {
      if (beats - heardAt.get(id)! > missedBeats) {
        peers.delete(id);
        heardAt.delete(id);
      }
    }
    const next = [nodeId, ...[...peers.keys()].filter((id) => id !== nodeId)].sort();
    if (next.join('\n') === ids.join('\n')) return;
    ids = next;
    owners.clear();
    for (const l of listeners) l();
  };

  const announce = async (leaving = false): Promise<void> => {
    const a: NodeAnnouncement = { ...init.announce(), id: nodeId, at: clock() };
    if (leaving) a.leaving = true;
    await log.append(stream, [{ key: nodeId, value: encoder.encode(JSON.stringify(a)) }]);
  };

  const fail = (error: unknown): void =>
    init.onError?.(new ClusterError(`membership of ${nodeId}`, { cause: error }));

  // A record that is not an announcement goes to the dead-letter stream with its reason, written
  // by one node only (chosen like a workflow's owner, by its position) so it is stored once.
  const deadLetters = createTopology({ namespace: init.namespace }).name('dead-letter');
  const deadLetter = (record: LogRecord, error: unknown): void => {
    if (rendezvous(ids, `${record.stream}/${record.partition}@${record.offset}`) !== nodeId) return;
    log.append(deadLetters, [deadLetterFor(record, error)]).catch(fail);
  };

  // Follows the stream until closed; a broken read is reported and started again (a missed
  // heartbeat costs nothing: the next one comes within an interval).
  const following = (async () => {
    while (!controller.signal.aborted) {
      try {
        for await (const r of log.read(stream, {
          from: 'latest',
          follow: true,
          signal: controller.signal,
        })) {
          let a: NodeAnnouncement;
          try {
            a = decodeAnnouncement(r.value);
          } catch (error) {
            deadLetter(r, error);
            continue;
          }
          if (a.id === nodeId) beats++;
          else if (a.leaving === true) {
            peers.delete(a.id);
            heardAt.delete(a.id);
          } else {
            peers.set(a.id, a);
            heardAt.set(a.id, beats);
          }
          recompute();
        }
      } catch (error) {
        fail(error);
        await new Promise((resolve) => setTimeout(resolve, intervalMs / 2));
      }
    }
  })();

  await announce();
  const timer = setInterval(() => void announce().catch(fail), intervalMs);
  await new Promise((resolve) => setTimeout(resolve, intervalMs * 1.2));
  recompute();

  const membership: Membership = {
    nodeId,
    owns(workflow) {
      let mine = owners.get(workflow);
      if (mine === undefined) {
        mine = rendezvous(ids, workflow) === nodeId;
        if (owners.size > 100_000) owners.clear(); // a cache, bounded
        owners.set(workflow, mine);
      }
      return mine;
    },
    owner: (workflow) => rendezvous(ids, workflow)!,
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    live: () => [...ids],
    peers: () => [...peers.values()],
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      listeners.clear();
      await announce(true).catch(fail);
      controller.abort();
      await following;
    },
    [Symbol.asyncDispose]() {
      return membership.close();
    },
  };
  return membership;
}
