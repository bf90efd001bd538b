/**
 * The taint ledger: `<dataDir>/local/taint.jsonl`, what a node remembers of its node-local
 * workflows across restarts without opening their engine — which instructions are tainted (by
 * which secret names, never values), and which tainted workflows were submitted and have not
 * ended (the node-local engine is opened at start only for those). One JSON object per line,
 * appended and fsynced before the workflow is submitted: `{"i": CID, "s": [NAME…]}` (a tainted
 * instruction), `{"w": CID}` (submitted), `{"e": CID}` (ended). A torn last line (a crash
 * mid-append) is ignored.
 *
 * @module
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';

/** The ledger. */
export interface TaintLedger {
  /** Tainted instructions (CID → secret names), as recorded. */
  readonly tainted: ReadonlyMap<string, ReadonlySet<string>>;
  /** Tainted workflows submitted and not recorded as ended. */
  unfinished(): string[];
  /** Records a submission's tainted instructions and the workflow, durably. */
  submitted(workflow: string, tainted: ReadonlyMap<string, ReadonlySet<string>>): void;
  /** Records a tainted workflow's end. */
  ended(workflow: string): void;
}

/** Opens (or starts) the ledger at `file`. */
export function openTaintLedger(file: string): TaintLedger {
  const tainted = new Map<string, Set<string>>();
  const running = new Set<string>();
  if (existsSync(file)) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      let r: { i?: string; s?: string[]; w?: string; e?: string };
      try {
        r = JSON.parse(line) as typeof r;
      } catch {
        continue; // empty, or torn by a crash
      }
      if (typeof r.i === 'string') tainted.set(r.i, new Set(r.s ?? []));
      if (typeof r.w === 'string') running.add(r.w);
      if (typeof r.e === 'string') running.delete(r.e);
    }
  }
  const append = (records: object[], sync: boolean): void => {
    mkdirSync(dirname(file), { recursive: true });
    const fd = openSync(file, 'a', 0o600);
    try {
      writeSync(fd, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
      if (sync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  };
  return {
    tainted,
    unfinished: () => [...running],
    submitted(workflow, instructions) {
      const fresh = [...instructions].filter(([i]) => !tainted.has(i));
      append([...fresh.map(([i, s]) => ({ i, s: [...s] })), { w: workflow }], true);
      for (const [i, s] of fresh) tainted.set(i, new Set(s));
      running.add(workflow);
    },
    ended(workflow) {
      if (!running.delete(workflow)) return;
      // Not fsynced: a lost end only opens the local engine once more at the next start.
      append([{ e: workflow }], false);
    },
  };
}
