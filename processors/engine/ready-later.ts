/**
 * The task/ready records of pure tasks this node runs itself, written only for tasks still
 * running a moment after their release.
 *
 * @module
 */
import type { TaskReadyEvent } from '../../schemas/events.ts';
import { RenewingMap } from '../renewing.ts';

/**
 * @default 50 ms: a console shows a long task as released this much after it was; a task that
 * ends sooner (nearly every pure task) costs no task/ready record.
 */
export const DEFAULT_READY_RECORD_AFTER_MS = 50;

/**
 * Holds the task/ready events of pure tasks handed to this node's executor (the local fast
 * path). A task whose receipt is computed within `afterMs` never gets a record: its receipt says
 * all the record would. One still running then gets it, with the time it was released (`at`),
 * so that readers of the log (the console, `ipvm watch`) see it released.
 *
 * The record is optional for a pure task by the engine's durability rules: recovery releases a
 * task that has neither receipt nor task/ready again, and a task/ready lost in a crash is
 * released again in any case.
 */
export interface ReadyLater {
  /** A pure task handed to this node's executor: its record is due in `afterMs`. */
  hold(event: TaskReadyEvent): void;
  /** A receipt of `instruction` was computed here: no record for the tasks of it held. */
  settle(instruction: string): void;
  /** Tasks held now (not settled, record not written). */
  readonly size: number;
  /** Drops what is held (the node closes: the records are optional). */
  close(): void;
}

interface Held {
  /** `undefined` once written or settled. */
  events: TaskReadyEvent[] | undefined;
  due: number;
}

/**
 * `write` appends the records that came due, oldest first; `running(workflow)` says whether a
 * workflow has not ended (a record of a task whose run ended meanwhile, e.g. failed or
 * cancelled, is not written).
 */
export function createReadyLater(
  afterMs: number,
  write: (events: TaskReadyEvent[]) => void,
  running: (workflow: string) => boolean,
): ReadyLater {
  // By instruction, in due order (a map keeps insertion order, and one delay is given to all).
  // A settled task leaves at once and its entry lets go of its events: nothing of a task that
  // ends within `afterMs`, nearly every one, is held past its receipt. (A queue of due times
  // beside the map held every task's event for `afterMs`, long enough for the young generation
  // to promote it, and for V8 to allocate the next ones in the old space outright.)
  const held = new RenewingMap<string, Held>();
  let timer: NodeJS.Timeout | undefined;

  function arm(): void {
    if (timer !== undefined) return;
    const first = held.values().next();
    if (first.done === true) return;
    timer = setTimeout(fire, Math.max(0, first.value.due - performance.now()));
    timer.unref();
  }

  function fire(): void {
    timer = undefined;
    const now = performance.now();
    const out: TaskReadyEvent[] = [];
    for (const [key, entry] of held) {
      if (entry.due > now) break;
      held.delete(key);
      for (const e of entry.events!)
        if (e.workflow === null || running(e.workflow.toString())) out.push(e);
      entry.events = undefined;
    }
    if (out.length > 0) write(out);
    arm();
  }

  return {
    hold(event) {
      const key = event.instruction.toString();
      const entry = held.get(key);
      if (entry !== undefined) {
        entry.events!.push(event);
        return;
      }
      held.set(key, { events: [event], due: performance.now() + afterMs });
      arm();
    },
    settle(instruction) {
      const entry = held.get(instruction);
      if (entry === undefined) return;
      held.delete(instruction);
      entry.events = undefined;
    },
    get size() {
      return held.size;
    },
    close() {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      held.clear();
    },
  };
}
