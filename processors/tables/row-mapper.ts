/**
 * Turns a batch of log record payloads (DAG-CBOR events) into `JSONEachRow` text per table —
 * decode, row mapping and serialisation, the indexer's CPU work — either in the calling thread
 * or spread over worker threads (`row-mapper.worker.ts`), so that on a machine with spare cores
 * the indexer is not bound by one core.
 *
 * @module
 */
import { Worker } from 'node:worker_threads';
import { verifyReceiptEvent, type ReceiptCheck } from '../auth/verify-receipt.ts';
import { decodeEvent } from '../../schemas/events.ts';
import type { NodeEvent } from '../../schemas/events.ts';
import { TableStoreConfigError } from './errors.ts';
import { fastReceiptRows } from './fast-receipt.ts';
import { receiptEventToRows, workflowEventToRow } from './rows.ts';
import { sibling } from '../sibling.ts';

/** The rows of a batch, serialised as `JSONEachRow` (one object per line). */
export interface MappedRecords {
  /** `receipts` rows. */
  receipts: string;
  /** `lineage` rows. */
  lineage: string;
  /** `workflows` rows. */
  workflows: string;
  /** Rows per table. */
  counts: { receipts: number; lineage: number; workflows: number };
  /** Records that could not be decoded or mapped: index in the batch and why. */
  skipped: Array<{ index: number; reason: string }>;
  /** Receipts that failed verification (forged, tampered, unsigned or untrusted in `ucan`). */
  refused: Array<{ index: number; reason: string }>;
  /** Records of event types the tables do not record. */
  ignored: number;
}

/**
 * Maps one batch in the calling thread. With `verify`, every receipt is decoded and verified
 * (`verifyReceiptEvent`) before it becomes a row; a refused one is listed, never a row.
 */
export function mapRecords(
  values: readonly Uint8Array[],
  decode: (bytes: Uint8Array) => NodeEvent = decodeEvent,
  verify?: ReceiptCheck,
): MappedRecords {
  let receipts = '';
  let lineage = '';
  let workflows = '';
  const counts = { receipts: 0, lineage: 0, workflows: 0 };
  const skipped: MappedRecords['skipped'] = [];
  const refused: MappedRecords['refused'] = [];
  let ignored = 0;
  // The fast path maps receipt bytes without decoding them; verification needs the decoded body.
  const fast = decode === decodeEvent && verify === undefined;
  const trusted = verify && new Set(verify.trusted);
  for (let index = 0; index < values.length; index++) {
    if (fast) {
      const rows = fastReceiptRows(values[index]!);
      if (rows !== null) {
        receipts += JSON.stringify(rows.receipt) + '\n';
        counts.receipts++;
        for (const l of rows.lineage) lineage += JSON.stringify(l) + '\n';
        counts.lineage += rows.lineage.length;
        continue;
      }
    }
    try {
      const event = decode(values[index]!);
      switch (event.type) {
        case 'receipt': {
          const refusal = verify && verifyReceiptEvent(event, verify, trusted);
          if (refusal) {
            refused.push({ index, reason: refusal.message });
            break;
          }
          const rows = receiptEventToRows(event);
          receipts += JSON.stringify(rows.receipt) + '\n';
          counts.receipts++;
          for (const l of rows.lineage) lineage += JSON.stringify(l) + '\n';
          counts.lineage += rows.lineage.length;
          break;
        }
        case 'workflow/submitted':
        case 'workflow/completed':
        case 'workflow/failed':
          workflows += JSON.stringify(workflowEventToRow(event)) + '\n';
          counts.workflows++;
          break;
        default:
          ignored++;
      }
    } catch (e) {
      skipped.push({ index, reason: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
  }
  return { receipts, lineage, workflows, counts, skipped, refused, ignored };
}

/** Maps batches, in this thread or on workers. */
export interface RowMapper {
  /** Maps a batch; the result is in the batch's order. */
  map(values: readonly Uint8Array[]): Promise<MappedRecords>;
  /** Terminates the workers. */
  close(): Promise<void>;
}

/** Options of {@link createRowMapper}. */
export interface RowMapperInit {
  /** Worker threads; 0 maps in the calling thread. @default 0 */
  workers?: number;
  /** Custom decoder (calling thread only). @default decodeEvent */
  decode?: (bytes: Uint8Array) => NodeEvent;
  /** Verify receipts against these rules before they become rows (on the workers too). */
  verify?: ReceiptCheck;
}

/** What a map worker is started with. */
export interface MapWorkerData {
  verify?: ReceiptCheck;
}

/** The request a worker receives: payloads packed into one transferable buffer. */
export interface MapRequest {
  id: number;
  bytes: Uint8Array;
  /** End offset of each payload in `bytes`. */
  ends: Uint32Array;
}

/** A worker's answer. */
export type MapResponse = { id: number; result: MappedRecords } | { id: number; error: string };

/** Creates a mapper; with `workers > 0` a batch is split evenly over the workers. */
export function createRowMapper(init: RowMapperInit = {}): RowMapper {
  const n = init.workers ?? 0;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new TableStoreConfigError('workers must be an integer ≥ 0', 'workers', 'indexer');
  }
  if (n === 0) {
    return {
      map: (values) => Promise.resolve(mapRecords(values, init.decode, init.verify)),
      close: () => Promise.resolve(),
    };
  }
  if (init.decode !== undefined) {
    throw new TableStoreConfigError('a custom decoder needs workers: 0', 'decode', 'indexer');
  }
  type Pending = { resolve: (r: MappedRecords) => void; reject: (e: Error) => void };
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let broken: Error | undefined;
  const workers = Array.from({ length: n }, () => {
    const w = new Worker(sibling(import.meta.url, './row-mapper.worker'), {
      workerData: { verify: init.verify } satisfies MapWorkerData,
    });
    w.unref(); // idle workers never keep the process alive; a pending map refs them
    w.on('message', (msg: MapResponse) => {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (pending.size === 0) for (const x of workers) x.unref();
      if ('error' in msg) p.reject(new Error(msg.error));
      else p.resolve(msg.result);
    });
    w.on('error', (e) => {
      broken = e;
      for (const p of pending.values()) p.reject(e);
      pending.clear();
    });
    return w;
  });
  let turn = 0;

  const send = (values: readonly Uint8Array[]): Promise<MappedRecords> => {
    if (broken) return Promise.reject(broken);
    let size = 0;
    for (const v of values) size += v.length;
    const bytes = new Uint8Array(size);
    const ends = new Uint32Array(values.length);
    let at = 0;
    values.forEach((v, i) => {
      bytes.set(v, at);
      at += v.length;
      ends[i] = at;
    });
    const id = nextId++;
    const worker = workers[turn++ % workers.length]!;
    worker.ref();
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, bytes, ends } satisfies MapRequest, [bytes.buffer, ends.buffer]);
    });
  };

  return {
    async map(values) {
      if (values.length === 0) return mapRecords([]);
      const per = Math.ceil(values.length / workers.length);
      const parts: Array<Promise<MappedRecords>> = [];
      for (let i = 0; i < values.length; i += per) parts.push(send(values.slice(i, i + per)));
      const results = await Promise.all(parts);
      const out = mapRecords([]);
      results.forEach((r, k) => {
        out.receipts += r.receipts;
        out.lineage += r.lineage;
        out.workflows += r.workflows;
        out.counts.receipts += r.counts.receipts;
        out.counts.lineage += r.counts.lineage;
        out.counts.workflows += r.counts.workflows;
        out.ignored += r.ignored;
        for (const s of r.skipped) out.skipped.push({ index: s.index + k * per, reason: s.reason });
        for (const s of r.refused) out.refused.push({ index: s.index + k * per, reason: s.reason });
      });
      return out;
    },
    async close() {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
