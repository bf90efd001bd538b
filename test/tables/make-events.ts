// Synthetic node events with real CIDs (dag-cbor, sha3-256), for the table tests.
import type { CID } from 'multiformats/cid';
import { cidOf } from '../../schemas/cid.ts';
import type { Instruction, Receipt } from '../../schemas/types.ts';
import type {
  ReceiptEvent,
  WorkflowEndedEvent,
  WorkflowSubmittedEvent,
} from '../../schemas/events.ts';

/** A Wasm module CID used as every instruction's resource. */
export const WASM = cidOf({ wasm: 'module' });
/** A second module, for functions that live elsewhere. */
export const WASM2 = cidOf({ wasm: 'module-2' });

export interface MakeReceiptInit {
  /** Distinguishes instructions. */
  i: number;
  func?: string;
  /** Links placed in the arguments (e.g. data CIDs, awaited instructions). */
  links?: CID[];
  /** Await this instruction's ok result. */
  awaits?: CID;
  workflow?: CID | null;
  error?: boolean;
  replayed?: boolean;
  executor?: string;
  at?: number;
  durationMs?: number | null;
  fuel?: number | null;
  resource?: CID;
}

/** A receipt event; the receipt CID depends only on the instruction and its output. */
export function makeReceiptEvent(init: MakeReceiptInit): ReceiptEvent {
  const func = init.func ?? 'add';
  const args: unknown[] = [init.i, ...(init.links ?? []).map((l) => ({ data: l }))];
  if (init.awaits) args.push({ 'await/ok': init.awaits });
  const run = {
    rsc: `ipfs://${(init.resource ?? WASM).toString()}`,
    op: 'wasm/run',
    input: { func, args },
    nnc: '',
  } as unknown as Instruction;
  const instruction = cidOf(run);
  const invocation = cidOf({ task: { run, cause: null, meta: {}, prf: [] } });
  const body = {
    ran: invocation,
    out: init.error ? ['error', { message: `trap ${init.i}` }] : ['ok', init.i * 2],
    meta: { op: func },
    iss: null,
    prf: [],
  } as unknown as Receipt;
  return {
    type: 'receipt',
    instruction,
    invocation,
    receipt: cidOf(body),
    workflow: init.workflow ?? null,
    run,
    body,
    replayed: init.replayed ?? false,
    fuel: init.fuel === undefined ? 1000 + init.i : init.fuel,
    durationMs: init.durationMs === undefined ? 0.5 + (init.i % 7) : init.durationMs,
    executor: init.executor ?? 'node-a',
    at: init.at ?? 1_700_000_000_000 + init.i,
  };
}

export function makeSubmitted(workflow: CID, tasks: number, at: number): WorkflowSubmittedEvent {
  return {
    type: 'workflow/submitted',
    workflow,
    body: {
      tasks: Array.from({ length: tasks }, (_, k) => ({
        run: makeReceiptEvent({ i: k }).run,
        cause: null,
        meta: {},
        prf: [],
      })),
    },
    name: null,
    at,
  };
}

export function makeEnded(
  workflow: CID,
  receipts: CID[],
  failed: CID[],
  at: number,
): WorkflowEndedEvent {
  return {
    type: failed.length > 0 ? 'workflow/failed' : 'workflow/completed',
    workflow,
    receipts,
    failed,
    reason: null,
    at,
  };
}
