/**
 * Matchmaking on a cluster: offers, bids and awards on the `<namespace>.offers` stream (one
 * partition, so every node reads them in one order).
 *
 * 1. The node whose executor draws a placed ready task posts an **offer** (the task itself).
 * 2. Every live node answers: a **bid** priced by {@link bidFor} when it can serve the task, a
 *    **decline** with the unmet need when it cannot.
 * 3. The workflow's owner (the poster of record: rendezvous hashing, as for scheduling) decides
 *    once every live node answered or the bid window passed: an **award** to the cheapest bid,
 *    or — with no bid — an award to itself when the task has only affinities (any node may run
 *    it), else **unplaced** with each node's reason.
 * 4. The awarded node runs the task when it reads the award (so the award is durable first);
 *    the owner of an unplaced task writes its error receipt.
 *
 * The first decision of a round on the stream wins for every reader, so two owners deciding
 * while views differ cannot double an award. When an awarded node leaves before the receipt,
 * the owner offers the task again (the next round); when the owner leaves before deciding,
 * the next owner decides.
 *
 * @module
 */
import type { Log, LogRecord } from '../../streams/log.ts';
import { decodeEvent, encodeEvent, type TaskReadyEvent } from '../../schemas/events.ts';
import { isIpldMap } from '../../schemas/ipld.ts';
import { readPlacement, REQUIRED_NEEDS, type Placement } from '../../schemas/placement.ts';
import { withRetry } from '../retry.ts';
import type { PlacementHooks, PlacementSeam } from '../engine/types.ts';
import { bestBid, bidFor, unmetBy, type Bid, type NodeCapabilities } from './bid.ts';
import type { CostHistory } from './cost-history.ts';
import { moduleCid } from './cost-history.ts';
import { ClusterError } from './errors.ts';
import {
  readBack as readFromResumePoint,
  type ResumeAnchor,
  type ResumePoint,
  type ResumeStore,
} from './resume-point.ts';
import { DEFAULT_BID_WINDOW_MS, type Membership } from './types.ts';

export { DEFAULT_BID_WINDOW_MS };

/** How often offers whose task has its receipt are forgotten and the resume point saved. */
const SWEEP_INTERVAL_MS = 10_000;

/** Construction options of {@link createMatchmaker}. */
export interface MatchmakerInit {
  log: Log;
  namespace: string;
  membership: Pick<Membership, 'nodeId' | 'owner' | 'live' | 'onChange'>;
  /** What this node can do (read at every offer). */
  capabilities: () => NodeCapabilities;
  history: CostHistory;
  /** Tasks running here and the most that run at once. */
  load: () => { running: number; concurrency: number };
  /** Whether a block is held locally (for `data:` needs). */
  hasData?: (cid: string) => Promise<boolean>;
  /** How long the owner waits for bids before deciding. @default DEFAULT_BID_WINDOW_MS */
  bidWindowMs?: number;
  /**
   * Where this node keeps its resume point: it then starts reading the offers stream at the
   * oldest offer it had not seen settled instead of at offset 0. Saved every sweep (the point
   * computed one sweep earlier, so the receipts it relies on had time to be appended) and on
   * close.
   */
  resume?: ResumeStore;
  onError?: (error: Error) => void;
}

/** A running matchmaker: the engine's placement seam. */
export interface Matchmaker extends PlacementSeam, AsyncDisposable {
  /**
   * Offers held, by state (for `ipvm nodes` and tests); `read`: records of the offers stream
   * read since this start, `from`: the offset the read started at.
   */
  stats(): {
    offers: number;
    awarded: number;
    unplaced: number;
    open: number;
    read: number;
    from: number;
  };
  close(): Promise<void>;
}

/** The `offers` stream of a namespace. */
export function offersStream(namespace: string): string {
  return namespace === '' ? 'offers' : `${namespace}.offers`;
}

type Message =
  | { kind: 'offer'; id: string; round: number; by: string; task: string }
  | { kind: 'bid'; id: string; round: number; node: string; bid: Bid }
  | { kind: 'decline'; id: string; round: number; node: string; reason: string }
  | { kind: 'award'; id: string; round: number; node: string; by: string; fallback: boolean }
  | { kind: 'unplaced'; id: string; round: number; by: string; reason: string };

interface Offer {
  /** Offset of the offer record of the current round (the resume point never passes it). */
  offset: number;
  event: TaskReadyEvent;
  placement: Placement;
  round: number;
  openedAt: number;
  bids: Map<string, Bid>;
  declines: Map<string, string>;
  decision: Extract<Message, { kind: 'award' | 'unplaced' }> | undefined;
  /** This node sent a decision for the round (it is read back as `decision`). */
  decided: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const idOf = (e: TaskReadyEvent): string =>
  `${e.workflow?.toString() ?? '-'}/${e.instruction.toString()}`;
const ownerKey = (e: TaskReadyEvent): string => (e.workflow ?? e.instruction).toString();

/** Joins matchmaking on `<namespace>.offers`; resolves once it follows the stream. */
export async function createMatchmaker(init: MatchmakerInit): Promise<Matchmaker> {
  const { log, membership, history } = init;
  const me = membership.nodeId;
  const stream = offersStream(init.namespace);
  const windowMs = init.bidWindowMs ?? DEFAULT_BID_WINDOW_MS;
  const offers = new Map<string, Offer>();
  const controller = new AbortController();
  let hooks: PlacementHooks | undefined;
  const counts = { awarded: 0, unplaced: 0, read: 0, from: 0 };
  // The last record folded (the anchor of a resume point) and the position after it.
  let last: ResumeAnchor | undefined;
  let next = 0;
  // While the stream is read back at start nothing is answered, run or decided (see follow).
  let catchingUp = true;
  let caughtUp!: () => void;
  const readBack = new Promise<void>((resolve) => (caughtUp = resolve));
  const fail = (error: unknown): void =>
    init.onError?.(new ClusterError(`matchmaking on ${stream}`, { cause: error }));

  await withRetry(() => log.ensureStreams([{ name: stream, partitions: 1 }]), {
    attempts: 10,
    baseDelayMs: 100,
  });

  const send = (m: Message): Promise<unknown> =>
    withRetry(() => log.append(stream, [{ key: m.id, value: encoder.encode(JSON.stringify(m)) }]), {
      attempts: 5,
      baseDelayMs: 100,
      signal: controller.signal,
    });

  async function answer(id: string, o: Offer): Promise<void> {
    const unmet = unmetBy(o.placement, init.capabilities());
    if (unmet !== undefined) {
      await send({ kind: 'decline', id, round: o.round, node: me, reason: unmet });
      return;
    }
    const data = o.placement.needs.filter((n) => n.kind === 'data');
    const local = new Set<string>();
    for (const n of data)
      if ((await init.hasData?.(moduleCid(n.value)).catch(() => false)) === true)
        local.add(moduleCid(n.value));
    const { rsc, input } = o.event.task.run;
    const func = isIpldMap(input) && typeof input.func === 'string' ? input.func : '';
    const bid = bidFor({ rsc, func, needs: o.placement.needs }, history, {
      ...init.load(),
      dataLocal: (cid) => local.has(cid),
    });
    await send({ kind: 'bid', id, round: o.round, node: me, bid });
  }

  /** Decides the offer's round when this node owns it and it is due. */
  function decide(id: string, o: Offer, force: boolean): void {
    if (o.decided || o.decision !== undefined || membership.owner(ownerKey(o.event)) !== me) return;
    const live = membership.live();
    const answered = live.every((n) => o.bids.has(n) || o.declines.has(n));
    if (!answered && !force && Date.now() - o.openedAt < windowMs) return;
    // A bidder that left since it bid is passed over while a live one bid; when none did, the
    // view may be flapping: the award stands, and is offered again if the node stays gone.
    const bids = [...o.bids].map(([node, b]) => ({ node, ...b }));
    const best = bestBid(bids.filter((b) => live.includes(b.node))) ?? bestBid(bids);
    const round = o.round;
    const hard =
      o.placement.node !== undefined || o.placement.needs.some((n) => REQUIRED_NEEDS.has(n.kind));
    const why = live.map((n) => `${n}: ${o.declines.get(n) ?? 'no answer'}`).join('; ');
    const decision: Message =
      best !== undefined
        ? { kind: 'award', id, round, node: best.node, by: me, fallback: false }
        : !hard // only preferences: any node may run it
          ? { kind: 'award', id, round, node: me, by: me, fallback: true }
          : {
              kind: 'unplaced',
              id,
              round,
              by: me,
              reason: `no live node can run it (live: ${live.join(', ')}) — ${why}`,
            };
    o.decided = true;
    send(decision).catch((error: unknown) => {
      o.decided = false; // decided again on the next answer, view change or deadline
      fail(error);
    });
  }

  function fold(m: Message, offset: number): void {
    if (m.kind === 'offer') {
      const known = offers.get(m.id);
      if (known !== undefined && known.round >= m.round) return; // posted twice: the first wins
      const event = decodeEvent(Buffer.from(m.task, 'base64')) as TaskReadyEvent;
      const placement = readPlacement(event.task.meta) ?? { node: undefined, needs: [] };
      if (known?.timer !== undefined) clearTimeout(known.timer);
      const o: Offer = {
        offset,
        event,
        placement,
        round: m.round,
        openedAt: Date.now(),
        bids: new Map(),
        declines: new Map(),
        decision: undefined,
        decided: false,
        timer: undefined,
      };
      offers.set(m.id, o);
      if (!catchingUp) open(m.id, o);
      return;
    }
    const o = offers.get(m.id);
    if (o === undefined || o.round !== m.round || o.decision !== undefined) return;
    if (m.kind === 'bid') o.bids.set(m.node, m.bid);
    else if (m.kind === 'decline') o.declines.set(m.node, m.reason);
    else {
      o.decision = m;
      clearTimeout(o.timer);
      if (m.kind === 'award') counts.awarded++;
      else counts.unplaced++;
      if (!catchingUp) act(o, m.kind === 'unplaced' && m.by === me);
      return;
    }
    if (!catchingUp) decide(m.id, o, false);
  }

  /** Answers a new round and arms its deadline. */
  function open(id: string, o: Offer): void {
    if (hooks!.settled(o.event)) return;
    answer(id, o).catch(fail);
    o.timer = setTimeout(() => decide(id, o, true), windowMs);
  }

  /** Carries out a decision: runs a task awarded here, writes an unplaced task's receipt. */
  function act(o: Offer, refuser: boolean): void {
    const d = o.decision!;
    if (hooks!.settled(o.event)) return;
    if (d.kind === 'award' && d.node === me) hooks!.run(o.event);
    if (d.kind === 'unplaced' && refuser) hooks!.refuse(o.event, d.reason).catch(fail);
    reofferIfGone(d.id, o, new Set(membership.live()));
  }

  /** The owner offers the task again (next round) when the node awarded it is not live. */
  function reofferIfGone(id: string, o: Offer, live: ReadonlySet<string>): void {
    const d = o.decision;
    if (d?.kind !== 'award' || live.has(d.node) || membership.owner(ownerKey(o.event)) !== me)
      return;
    const task = Buffer.from(encodeEvent(o.event)).toString('base64');
    send({ kind: 'offer', id, round: o.round + 1, by: me, task }).catch(fail);
  }

  // Offers whose task has its receipt are forgotten (a task drawn again after its receipt is
  // not offered again, see place), and the resume point computed at the previous sweep is
  // saved: by now the receipts it counts as settled were appended.
  let due: ResumePoint | undefined;
  const sweep = (): void => {
    for (const [id, o] of offers)
      if (o.decision !== undefined && hooks?.settled(o.event) === true) offers.delete(id);
    void save(due); // never rejects: a failed save is reported
    due = resumePoint();
  };
  const sweeper = setInterval(sweep, SWEEP_INTERVAL_MS);
  sweeper.unref();

  /** The oldest offer not settled here, else one past the last record read (see resume-point.ts). */
  function resumePoint(): ResumePoint | undefined {
    if (catchingUp || last === undefined) return undefined;
    let position = next;
    for (const o of offers.values())
      if (hooks?.settled(o.event) !== true) position = Math.min(position, o.offset);
    return { position, anchor: last };
  }
  let saving = Promise.resolve();
  let saved: ResumePoint | undefined;
  const save = (point: ResumePoint | undefined): Promise<void> => {
    const store = init.resume;
    if (store === undefined || point === undefined) return saving;
    saving = saving.then(async () => {
      if (saved?.position === point.position && saved.anchor.offset === point.anchor.offset) return;
      try {
        await store.save(point);
        saved = point;
      } catch (error) {
        fail(error);
      }
    });
    return saving;
  };

  // An awarded node that left before the receipt: the owner offers the task again. An owner
  // that left before deciding: the next one decides.
  const unwatch = membership.onChange(() => {
    if (catchingUp) return;
    const live = new Set(membership.live());
    for (const [id, o] of offers) {
      if (hooks?.settled(o.event) === true) {
        clearTimeout(o.timer);
        offers.delete(id);
        continue;
      }
      if (o.decision === undefined) decide(id, o, false);
      else reofferIfGone(id, o, live);
    }
  });

  // Reads the stream back (folding only), then carries out what is due — awards here without a
  // receipt, unplaced tasks this node owns, open rounds — and follows what comes next.
  async function follow(): Promise<void> {
    counts.from = await readFromResumePoint({
      log,
      stream,
      store: init.resume,
      signal: controller.signal,
      fold: foldRecord,
      skip: take,
      reset() {
        offers.clear();
        Object.assign(counts, { awarded: 0, unplaced: 0 });
        last = undefined;
      },
      onError: fail,
    });
    catchingUp = false;
    caughtUp();
    if (controller.signal.aborted) return;
    for (const [id, o] of offers) {
      if (o.decision === undefined) open(id, o);
      else act(o, membership.owner(ownerKey(o.event)) === me);
    }
    while (!controller.signal.aborted) {
      try {
        for await (const r of log.read(stream, {
          from: next,
          follow: true,
          signal: controller.signal,
        }))
          foldRecord(r);
        return;
      } catch (error) {
        if (controller.signal.aborted) return;
        fail(error);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }
  let following: Promise<void> | undefined;

  /** Counts a record read and moves the position past it. */
  function take(r: LogRecord): void {
    counts.read++;
    next = r.offset + 1;
    last = { offset: r.offset, key: r.key, timestamp: r.timestamp };
  }

  function foldRecord(r: LogRecord): void {
    take(r);
    let m: Message;
    try {
      m = JSON.parse(decoder.decode(r.value)) as Message;
      if (typeof m.id !== 'string' || typeof m.round !== 'number') throw new Error('not an offer');
    } catch (error) {
      fail(new Error(`${stream} offset ${r.offset}: not a matchmaking record`, { cause: error }));
      return;
    }
    try {
      fold(m, r.offset);
    } catch (error) {
      fail(error);
    }
  }

  const matchmaker: Matchmaker = {
    check() {}, // any node of the cluster may serve it: decided when the task is ready
    async place(event) {
      if (hooks?.settled(event) === true) return; // drawn again after its receipt
      await readBack; // what was offered before this start is known
      try {
        readPlacement(event.task.meta);
      } catch (err) {
        // A ready task appended around the scheduler (which validates placement) by a producer.
        await hooks?.refuse(event, (err as Error).message);
        return;
      }
      const id = idOf(event);
      const known = offers.get(id);
      if (known !== undefined && (known.decision === undefined || known.decision.kind === 'award'))
        return; // drawn again (redelivered): already offered
      const task = Buffer.from(encodeEvent(event)).toString('base64');
      await send({ kind: 'offer', id, round: 0, by: me, task });
    },
    attach(h) {
      // Following starts with the executor, so an award read back always has somewhere to run.
      hooks = h;
      following ??= follow().catch(fail);
    },
    observe: (receipt) => history.observe(receipt),
    stats: () => ({
      offers: offers.size,
      ...counts,
      open: [...offers.values()].filter((o) => o.decision === undefined).length,
    }),
    async close() {
      clearInterval(sweeper);
      unwatch();
      controller.abort();
      caughtUp(); // a place() waiting for the read back returns (its append is aborted)
      for (const o of offers.values()) clearTimeout(o.timer);
      await following;
      // Closed after the engine (see openNode): the receipts counted as settled are appended.
      await save(resumePoint());
    },
    [Symbol.asyncDispose]() {
      return matchmaker.close();
    },
  };
  return matchmaker;
}
