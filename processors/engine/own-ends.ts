/**
 * Ends this process appends, given out (to `ends$`, `IpvmNode.ended` and the ended registry)
 * once their append is durable, instead of once the live follow reads them back.
 *
 * A workflow's end is acknowledged only when durable; reading it back adds nothing to that, but
 * cost every run the read's wake-up (~0.1 ms, a fifth of a memo hit). The append resolving and
 * the read back race (the log wakes its readers and resolves the append together), so each end
 * is given out by whichever comes first and skipped by the other. Ends of one workflow are
 * appended, announced and read back in the same order, so counting per workflow is enough.
 *
 * Outside a cluster only: there a workflow's ends can come from another node too.
 *
 * @module
 */
import { RenewingMap } from '../renewing.ts';

/** Counts per workflow (see {@link OwnEnds}); an entry with all three at zero is dropped. */
interface Counts {
  /** Ends appended here whose append has not settled. */
  queued: number;
  /** Given out at their append's durability, not read back yet. */
  announced: number;
  /** Read back (and given out then) before their append's settling was seen. */
  read: number;
}

/** Which of two paths gives out an end this process appended (see the module doc). */
export interface OwnEnds {
  /** An end of `workflow` handed to the log here. */
  queued(workflow: string): void;
  /**
   * Its append settled (`durable` false: it failed): whether to give the end out now — not when
   * the read back gave it out already, nor when the append failed.
   */
  settled(workflow: string, durable: boolean): boolean;
  /**
   * The live follow read an end of `workflow`: `'new'` when it is to be given out now; when it
   * was given out already, `'latest'` if no later end of the workflow was, else `'older'`.
   */
  read(workflow: string): 'new' | 'latest' | 'older';
  /**
   * Whether an end of `workflow` was given out and not read back yet: it is newer than anything
   * of the workflow the live follow reads before it (a submission read back does not undo it).
   */
  ahead(workflow: string): boolean;
}

export function createOwnEnds(): OwnEnds {
  const counts = new RenewingMap<string, Counts>();
  const drop = (workflow: string, c: Counts): void => {
    if (c.queued === 0 && c.announced === 0 && c.read === 0) counts.delete(workflow);
  };
  return {
    queued(workflow) {
      const c = counts.get(workflow);
      if (c === undefined) counts.set(workflow, { queued: 1, announced: 0, read: 0 });
      else c.queued++;
    },
    settled(workflow, durable) {
      const c = counts.get(workflow);
      if (c === undefined) return durable; // not queued here: never happens, give it out
      c.queued--;
      let give = false;
      if (durable) {
        if (c.read > 0) c.read--;
        else {
          c.announced++;
          give = true;
        }
      }
      drop(workflow, c);
      return give;
    },
    read(workflow) {
      const c = counts.get(workflow);
      if (c === undefined) return 'new'; // written elsewhere, or before this process started
      if (c.announced > 0) {
        c.announced--;
        const latest = c.announced === 0;
        drop(workflow, c);
        return latest ? 'latest' : 'older';
      }
      if (c.queued > 0) c.read++;
      return 'new';
    },
    ahead(workflow) {
      return (counts.get(workflow)?.announced ?? 0) > 0;
    },
  };
}
