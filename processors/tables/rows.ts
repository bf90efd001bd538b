/**
 * Pure mapping from node events to table rows. The same event always yields the same rows, which
 * is what makes the tables rebuildable by replay.
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import { cidOf, cidV1Text } from '../../schemas/cid.ts';
import { dagJson } from '../../schemas/codecs.ts';
import type {
  ReceiptEvent,
  WorkflowEndedEvent,
  WorkflowSubmittedEvent,
} from '../../schemas/events.ts';
import type { Instruction, Receipt, Workflow } from '../../schemas/types.ts';
import { RowMappingError } from './errors.ts';
import type { LineageRow, ReceiptRow, WorkflowRow } from './table-store.ts';

/** The rows one receipt event contributes. */
export interface ReceiptRows {
  /** Its `receipts` row. */
  receipt: ReceiptRow;
  /** Its `lineage` rows: the resource first, then argument links in document order. */
  lineage: LineageRow[];
}

/**
 * The canonical string of a CID: base32 (multibase `b`) for v1, base58btc for v0 — what
 * `CID#toString()` returns. The indexer runs this several times per receipt at 100k receipts/s,
 * and multiformats' generic base encoder is an order of magnitude slower.
 */
export function cidToString(cid: CID): string {
  return cid.version === 1 ? cidV1Text(cid.bytes) : cid.toString();
}

const cidString = (value: unknown, field: string, cid?: string): string => {
  const c = CID.asCID(value);
  if (c === null) throw new RowMappingError(`${field} is not a CID`, { field, cid });
  return cidToString(c);
};

const stripScheme = (rsc: string): string => (rsc.startsWith('ipfs://') ? rsc.slice(7) : rsc);

// Resources repeat (a few Wasm modules run many times): remember their parse, within bounds.
const resourceCache = new Map<string, string | null>();
const parseCid = (s: string): string | null => {
  const hit = resourceCache.get(s);
  if (hit !== undefined) return hit;
  let out: string | null;
  try {
    out = cidToString(CID.parse(s));
  } catch {
    out = null;
  }
  if (resourceCache.size >= 4096) resourceCache.clear();
  resourceCache.set(s, out);
  return out;
};

/** Every CID link in `value`, depth first, with its slash path; the first path of each CID. */
function collectLinks(value: unknown, path: string, out: Map<string, string>, depth: number): void {
  if (depth > 256 || value === null || typeof value !== 'object') return;
  const cid = CID.asCID(value);
  if (cid !== null) {
    const s = cidToString(cid);
    if (!out.has(s)) out.set(s, path);
    return;
  }
  if (value instanceof Uint8Array) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => collectLinks(v, `${path}/${i}`, out, depth + 1));
    return;
  }
  for (const [k, v] of Object.entries(value)) collectLinks(v, `${path}/${k}`, out, depth + 1);
}

/**
 * The rows of one receipt event: its memo row and its lineage (the resource CID and every CID
 * link in the arguments, each CID once).
 * @throws RowMappingError when a required field is missing or of the wrong kind.
 */
export function receiptEventToRows(event: ReceiptEvent): ReceiptRows {
  const instruction = cidString(event.instruction, 'instruction');
  const receipt = cidString(event.receipt, 'receipt', instruction);
  const invocation = cidString(event.invocation, 'invocation', instruction);
  const workflow =
    event.workflow === null || event.workflow === undefined
      ? ''
      : cidString(event.workflow, 'workflow', instruction);
  const run = event.run as Partial<Instruction> | undefined;
  if (run === undefined || run === null || typeof run.rsc !== 'string') {
    throw new RowMappingError('run.rsc is not a string', { field: 'run.rsc', cid: instruction });
  }
  if (typeof run.op !== 'string') {
    throw new RowMappingError('run.op is not a string', { field: 'run.op', cid: instruction });
  }
  const input = run.input as { func?: unknown; args?: unknown } | null | undefined;
  const func = typeof input?.func === 'string' ? input.func : '';
  const out = (event.body as Partial<Receipt> | undefined)?.out;
  if (!Array.isArray(out) || (out[0] !== 'ok' && out[0] !== 'error') || out.length !== 2) {
    throw new RowMappingError('body.out is not ["ok"|"error", value]', {
      field: 'body.out',
      cid: instruction,
    });
  }
  if (typeof event.at !== 'number' || !Number.isFinite(event.at)) {
    throw new RowMappingError('at is not a number', { field: 'at', cid: instruction });
  }
  const outcome = out[0];
  const value: unknown = out[1];
  let output: string;
  let outputCid: string;
  try {
    output = dagJson.stringify(value);
    outputCid = cidToString(cidOf(value));
  } catch (cause) {
    throw new RowMappingError('body.out[1] is not an IPLD value', {
      field: 'body.out.1',
      cid: instruction,
      cause,
    });
  }
  const resource = stripScheme(run.rsc);
  const row: ReceiptRow = {
    instruction_cid: instruction,
    receipt_cid: receipt,
    invocation_cid: invocation,
    workflow_cid: workflow,
    op: run.op,
    function: func,
    resource_cid: resource,
    outcome,
    output,
    output_cid: outputCid,
    fuel: typeof event.fuel === 'number' ? event.fuel : null,
    duration_ms: typeof event.durationMs === 'number' ? event.durationMs : null,
    executor: typeof event.executor === 'string' ? event.executor : '',
    at_ms: Math.trunc(event.at),
    replayed: event.replayed === true ? 1 : 0,
  };

  const lineage: LineageRow[] = [];
  const common = {
    instruction_cid: instruction,
    receipt_cid: receipt,
    output_cid: outputCid,
    function: func,
    outcome,
  } as const;
  const resourceCid = parseCid(resource);
  if (resourceCid !== null) {
    lineage.push({ input_cid: resourceCid, role: 'resource', path: 'rsc', ...common });
  }
  const links = new Map<string, string>();
  collectLinks(input?.args, 'args', links, 0);
  for (const [cid, path] of links) {
    lineage.push({ input_cid: cid, role: 'arg', path, ...common });
  }
  return { receipt: row, lineage };
}

/**
 * The `workflows` row of a lifecycle event.
 * @throws RowMappingError when a required field is missing or of the wrong kind.
 */
export function workflowEventToRow(
  event: WorkflowSubmittedEvent | WorkflowEndedEvent,
): WorkflowRow {
  const workflow = cidString(event.workflow, 'workflow');
  if (typeof event.at !== 'number' || !Number.isFinite(event.at)) {
    throw new RowMappingError('at is not a number', { field: 'at', cid: workflow });
  }
  if (event.type === 'workflow/submitted') {
    // A re-run references its body (an earlier record) and says how many tasks it has.
    const tasks = event.body === null ? undefined : (event.body as Partial<Workflow>).tasks;
    const count = event.body === null ? event.source?.tasks : tasks?.length;
    if (count === undefined) {
      throw new RowMappingError('body.tasks is not a list', { field: 'body.tasks', cid: workflow });
    }
    return {
      workflow_cid: workflow,
      event: 'submitted',
      task_count: count,
      receipt_count: 0,
      failed: [],
      at_ms: Math.trunc(event.at),
    };
  }
  if (!Array.isArray(event.receipts) || !Array.isArray(event.failed)) {
    throw new RowMappingError('receipts/failed are not lists', { field: 'failed', cid: workflow });
  }
  return {
    workflow_cid: workflow,
    event: event.type === 'workflow/completed' ? 'completed' : 'failed',
    task_count: 0,
    receipt_count: event.receipts.length,
    failed: event.failed.map((c, i) => cidString(c, `failed.${i}`, workflow)),
    at_ms: Math.trunc(event.at),
  };
}
