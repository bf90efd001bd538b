/**
 * What both producer examples share: the workflow's CID (computed as the node computes it, so
 * the subscriber knows which receipts are its own) and a tracker that reads the node's DAG-CBOR
 * events — `receipt` on `<ns>.pure`, `workflow/completed|failed|rejected` on `<ns>.invocations`
 * — prints each receipt's output as it is read, and says when the workflow is over.
 *
 * Receipts are keyed by instruction CID, so one workflow's receipts spread over the partitions
 * of `<ns>.pure` and are read in no fixed order across them: a chain's second output may be
 * printed before its first. The end event lists every receipt, so the end is printed last.
 *
 * @module
 */
import * as dagCbor from '@ipld/dag-cbor';
import * as dagJson from '@ipld/dag-json';
import type { CID } from 'multiformats/cid';
import { parseWorkflow } from '../../schemas/model.ts';

/** Flags of both examples: `[WORKFLOW] [--namespace NS] [--brokers LIST | --nats-url URL]`. */
export function parseArgs(argv: string[]): { file: string; flags: Record<string, string> } {
  const flags: Record<string, string> = {};
  let file = 'examples/workflows/add-one.json';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) flags[a.slice(2)] = argv[++i] ?? '';
    else file = a;
  }
  return { file, flags };
}

/** The workflow CID the node will compute for these bytes, or null when they do not parse. */
export function workflowCid(bytes: Uint8Array): string | null {
  try {
    return parseWorkflow(bytes).cid.toString();
  } catch {
    return null; // the node rejects it too: the subscriber waits for the rejection
  }
}

/** How a followed workflow ended. */
export type Outcome = 'completed' | 'failed' | 'rejected';

/** Reads events of one submission (its record key and workflow CID) and prints what matters. */
export interface Tracker {
  /** Feeds one record value; returns the outcome once the workflow is over. */
  see(value: Uint8Array): Outcome | undefined;
}

export function createTracker(
  key: string,
  workflow: string | null,
  print: (line: string) => void = console.log,
): Tracker {
  const printed = new Set<string>();
  let expected: { receipts: string[]; outcome: Outcome } | undefined;
  let done: Outcome | undefined;
  // The end event (on invocations) may be read before the last receipts (on pure).
  const over = (): Outcome | undefined => {
    if (done === undefined && expected?.receipts.every((r) => printed.has(r)) === true) {
      done = expected.outcome;
      print(`${done} ${workflow}`);
    }
    return done;
  };
  return {
    see(value) {
      let event: Record<string, unknown>;
      try {
        event = dagCbor.decode(value);
      } catch {
        return over(); // a producer's DAG-JSON document on invocations, not an event
      }
      const mine = String(event.workflow) === workflow;
      if (event.type === 'receipt' && mine) {
        const receipt = String(event.receipt);
        if (!printed.has(receipt)) {
          printed.add(receipt);
          const body = event.body as { out: [string, unknown] };
          const input = (event.run as { input: { func: string } }).input;
          const out = new TextDecoder().decode(dagJson.encode(body.out[1]));
          print(`${body.out[0]} ${input.func} → ${out}  (receipt ${receipt})`);
        }
      } else if (
        (event.type === 'workflow/completed' || event.type === 'workflow/failed') &&
        mine
      ) {
        expected = {
          receipts: (event.receipts as CID[]).map(String),
          outcome: event.type === 'workflow/completed' ? 'completed' : 'failed',
        };
      } else if (event.type === 'workflow/rejected' && event.key === key) {
        done ??= 'rejected';
        print(`rejected: ${String(event.reason)}`);
        return done;
      }
      return over();
    },
  };
}
