/**
 * Which workflows ended, and how: every end the process saw, kept for its life.
 *
 * @module
 */
import { decodeEvent, type NodeEvent, type WorkflowEndedEvent } from '../../schemas/events.ts';
import { KeyIndex, NumberColumn, type HeldBytes } from './key-index.ts';
import { RenewingMap } from '../renewing.ts';
import { Slabs, type SlabsOptions } from './slabs.ts';

/** Which workflows ended (and how), and which are running again after they ended. */
export interface EndedRegistry {
  has(workflow: string): boolean;
  /** The end event (decoded on each ask when only its bytes are kept). */
  get(workflow: string): WorkflowEndedEvent | undefined;
  set(workflow: string, end: WorkflowEndedEvent | Uint8Array): void;
  delete(workflow: string): void;
  /** Workflows submitted again after they ended: `ended()` waits for the new end. */
  readonly rerunning: Set<string>;
  /** Notes an event read back from `invocations`; `bytes`, its record's value, are kept. */
  note(event: NodeEvent, bytes?: Uint8Array): void;
  /** Bytes the kept ends take, including those of ends replaced and not yet compacted away. */
  readonly heldBytes: number;
  /** Bytes of memory the kept ends take (the rest is in the spill file, if any). */
  readonly residentBytes: number;
  /**
   * Everything the registry keeps, by where: the ends and the numbers kept by them (and the
   * workflows' CIDs unless shared).
   */
  keptBytes(): HeldBytes;
  /** Releases the spill file; ends kept there can no longer be read. */
  close(): void;
}

/** Replaced ends' bytes that start a compaction, at the least. */
const COMPACT_AFTER_BYTES = 1 << 20;
/** Entries a compaction visits in one turn of the event loop. */
const COMPACT_CHUNK = 4096;

/**
 * Every end is kept as its record's bytes (~200 B) in shared slabs, named by a number, and
 * decoded when asked for: not as the decoded event (its CIDs alone are ~400 B each), nor as a
 * typed array of its own (~150 B of objects and allocation around each end's bytes). A
 * workflow run again ends again: the end it replaces stays in its slab until replaced ends
 * take as much as the live ones (and at least {@link COMPACT_AFTER_BYTES}), when the live
 * ones are copied to new slabs: memory stays within about twice what the live ends take (three
 * times while a compaction runs). With `spillDir` the slabs past the one being filled live in
 * a scratch file there (and the same bound holds for the file).
 *
 * A compaction copies {@link COMPACT_CHUNK} entries per turn of the event loop, so that a
 * registry of millions of ends never holds the loop for long; the registry answers throughout,
 * from whichever generation holds an end. The handles of one generation are kept as they are,
 * those of the other as `-(handle + 1)`; which is which flips with each compaction.
 */
export function createEndedRegistry(
  options: SlabsOptions & {
    /** The workflows' CIDs, shared with the engine's other registries; default: its own. */
    workflows?: KeyIndex;
  } = {},
): EndedRegistry {
  // Each workflow's end by its number in `workflows` (key-index.ts): a handle in `handles`, or
  // the decoded event in `decoded` until its record is read back.
  const ownWorkflows = options.workflows === undefined;
  const workflows = options.workflows ?? new KeyIndex({ spillDir: options.spillDir });
  const handles = new NumberColumn();
  const decoded = new RenewingMap<number, WorkflowEndedEvent>();
  let slabs = new Slabs(options);
  /** Whether the handles of `slabs` are kept negated. */
  let negated = false;
  /** While a compaction runs: the slabs the live ends are copied to, and the next number to visit. */
  let next: Slabs | undefined;
  let walk = 0;
  /** Bytes of replaced ends in the newest generation (`next` while a compaction runs). */
  let replaced = 0;
  let closed = false;
  const inOld = (v: number): boolean => next !== undefined && v < 0 === negated;
  const handleOf = (v: number): number => (v < 0 ? -v - 1 : v);
  const slabsOf = (v: number): Slabs => (next === undefined || inOld(v) ? slabs : next);
  const forget = (id: number): void => {
    const v = handles.get(id);
    // An end replaced in the generation being compacted away is simply not copied.
    if (!Number.isNaN(v) && !inOld(v)) replaced += slabsOf(v).lengthOf(handleOf(v)) + 4;
    handles.set(id, Number.NaN);
    decoded.delete(id);
  };
  const keep = (bytes: Uint8Array): number => {
    if (next === undefined) {
      const h = slabs.add([bytes]);
      return negated ? -h - 1 : h;
    }
    const h = next.add([bytes]);
    return negated ? h : -h - 1;
  };
  const step = (): void => {
    if (closed || next === undefined) return;
    const ids: number[] = [];
    const old: number[] = [];
    const end = Math.min(walk + COMPACT_CHUNK, workflows.size);
    for (; walk < end; walk++) {
      const v = handles.get(walk);
      if (!Number.isNaN(v) && inOld(v)) {
        ids.push(walk);
        old.push(handleOf(v));
      }
    }
    // A spilled slab is read once, not once per end in it.
    slabs.forEach(old, (i, bytes) => handles.set(ids[i]!, keep(bytes)));
    if (walk < workflows.size) {
      setImmediate(step);
      return;
    }
    slabs.close();
    slabs = next;
    negated = !negated;
    next = undefined;
    compact();
  };
  const compact = (): void => {
    if (next !== undefined || closed) return;
    if (replaced < COMPACT_AFTER_BYTES || replaced * 2 < slabs.bytes) return;
    next = new Slabs(options);
    walk = 0;
    replaced = 0;
    step();
  };
  const set = (workflow: string, end: WorkflowEndedEvent | Uint8Array): void => {
    const id = workflows.add(workflow);
    forget(id);
    if (end instanceof Uint8Array) handles.set(id, keep(end));
    else decoded.set(id, end);
    compact();
  };
  const remove = (workflow: string): void => {
    const id = workflows.id(workflow);
    if (id < 0) return;
    forget(id);
    compact();
  };
  const has = (id: number): boolean =>
    id >= 0 && (!Number.isNaN(handles.get(id)) || decoded.has(id));
  return {
    has: (workflow) => has(workflows.id(workflow)),
    get(workflow) {
      const id = workflows.id(workflow);
      if (id < 0) return undefined;
      const v = handles.get(id);
      if (Number.isNaN(v)) return decoded.get(id);
      // (decoded from a copy: the event may be kept, and must not keep a 256 KiB slab alive)
      return decodeEvent(slabsOf(v).get(handleOf(v)).slice()) as WorkflowEndedEvent;
    },
    set,
    delete: remove,
    rerunning: new Set(),
    note(event, bytes) {
      if (event.type === 'workflow/completed' || event.type === 'workflow/failed')
        set(event.workflow.toString(), bytes ?? event);
      if (event.type === 'workflow/submitted') remove(event.workflow.toString());
    },
    get heldBytes() {
      return slabs.bytes + (next?.bytes ?? 0);
    },
    get residentBytes() {
      return slabs.residentBytes + (next?.residentBytes ?? 0);
    },
    keptBytes() {
      const own = ownWorkflows ? workflows : undefined;
      return {
        memory:
          slabs.residentBytes + (next?.residentBytes ?? 0) + handles.bytes + (own?.bytes ?? 0),
        file: slabs.spilledBytes + (next?.spilledBytes ?? 0) + (own?.spilledBytes ?? 0),
      };
    },
    close() {
      closed = true;
      slabs.close();
      next?.close();
      if (ownWorkflows) workflows.close();
    },
  };
}
