/**
 * Which workflows ended, and how: every end the process saw, kept for its life.
 *
 * @module
 */
import { decodeEvent, type NodeEvent, type WorkflowEndedEvent } from '../../schemas/events.ts';
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
  /** Releases the spill file; ends kept there can no longer be read. */
  close(): void;
}

/** Replaced ends' bytes that start a compaction, at the least. */
const COMPACT_AFTER_BYTES = 1 << 20;

/**
 * Every end is kept as its record's bytes (~200 B) in shared slabs, named by a number, and
 * decoded when asked for: not as the decoded event (its CIDs alone are ~400 B each), nor as a
 * typed array of its own (~150 B of objects and allocation around each end's bytes). A
 * workflow run again ends again: the end it replaces stays in its slab until replaced ends
 * take as much as the live ones (and at least {@link COMPACT_AFTER_BYTES}), when the live
 * ones are copied to new slabs: memory stays within about twice what the live ends take. With
 * `spillDir` the slabs past the one being filled live in a scratch file there (and the same
 * bound holds for the file).
 */
export function createEndedRegistry(options: SlabsOptions = {}): EndedRegistry {
  const ended = new Map<string, number | WorkflowEndedEvent>();
  let slabs = new Slabs(options);
  let replaced = 0;
  const forget = (workflow: string): void => {
    const v = ended.get(workflow);
    if (typeof v === 'number') replaced += slabs.lengthOf(v) + 4;
  };
  const compact = (): void => {
    if (replaced < COMPACT_AFTER_BYTES || replaced * 2 < slabs.bytes) return;
    const next = new Slabs(options);
    const workflows: string[] = [];
    const handles: number[] = [];
    for (const [workflow, v] of ended)
      if (typeof v === 'number') {
        workflows.push(workflow);
        handles.push(v);
      }
    // A spilled slab is read once, not once per end in it.
    slabs.forEach(handles, (i, bytes) => ended.set(workflows[i]!, next.add([bytes])));
    slabs.close();
    slabs = next;
    replaced = 0;
  };
  const set = (workflow: string, end: WorkflowEndedEvent | Uint8Array): void => {
    forget(workflow);
    ended.set(workflow, end instanceof Uint8Array ? slabs.add([end]) : end);
    compact();
  };
  const remove = (workflow: string): void => {
    forget(workflow);
    ended.delete(workflow);
    compact();
  };
  return {
    has: (workflow) => ended.has(workflow),
    get(workflow) {
      const v = ended.get(workflow);
      // (decoded from a copy: the event may be kept, and must not keep a 1 MiB slab alive)
      return typeof v === 'number' ? (decodeEvent(slabs.get(v).slice()) as WorkflowEndedEvent) : v;
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
      return slabs.bytes;
    },
    get residentBytes() {
      return slabs.residentBytes;
    },
    close: () => slabs.close(),
  };
}
