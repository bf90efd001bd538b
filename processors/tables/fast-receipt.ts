/**
 * A faster path from an encoded receipt event (DAG-CBOR bytes) to its table rows, for the
 * indexer's hot loop. `decodeEvent` builds a multiformats `CID` object for every link (about
 * six per receipt) and validates the whole event; the tables need neither: links become strings
 * straight from their bytes, the output's CID is the hash of the output's own bytes (sliced from
 * the event, never re-encoded), and only the fields the tables read are checked.
 *
 * The result is the same as `receiptEventToRows(decodeEvent(bytes))` (a test checks this on
 * varied events); anything this path does not handle returns `null` and the caller uses the
 * full decoder.
 *
 * @module
 */
import { hash } from 'node:crypto';
import * as cborg from 'cborg';
import { CID } from 'multiformats/cid';
import { cidV1Text } from '../../schemas/cid.ts';
import { dagCbor, dagJson } from '../../schemas/codecs.ts';
import { EVENT_VERSION } from '../../schemas/events.ts';
import { cidToString, type ReceiptRows } from './rows.ts';
import type { LineageRow, ReceiptRow } from './table-store.ts';

/** A link as its CID bytes, without building a CID. */
class RawLink {
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
}

/** The canonical string of CID bytes (v1: base32 `b…`; v0: base58btc via multiformats). */
function linkString(bytes: Uint8Array): string {
  return bytes[0] === 0x01 ? cidV1Text(bytes) : CID.decode(bytes).toString();
}

const tags: cborg.DecodeOptions['tags'] = [];
tags[42] = (decode) => {
  const b = decode();
  if (!(b instanceof Uint8Array) || b[0] !== 0x00) throw new Error('bad link');
  return new RawLink(b.subarray(1));
};
// Strict: non-minimal encodings, which DAG-CBOR forbids, fall back to the full decoder.
const options: cborg.DecodeOptions = {
  tags,
  allowBigInt: true,
  strict: true,
  rejectDuplicateMapKeys: true,
  allowIndefinite: false,
  allowUndefined: false,
};

// --- a minimal CBOR walker, to find the byte span of `body.out[1]`

interface Head {
  major: number;
  arg: number;
  /** Position after the head. */
  end: number;
  /** Additional information (low 5 bits). */
  ai: number;
}

function head(b: Uint8Array, p: number): Head {
  const ib = b[p];
  if (ib === undefined) throw new Error('truncated');
  const major = ib >> 5;
  const ai = ib & 31;
  if (ai < 24) return { major, arg: ai, end: p + 1, ai };
  const n = ai === 24 ? 1 : ai === 25 ? 2 : ai === 26 ? 4 : ai === 27 ? 8 : -1;
  if (n < 0 || p + 1 + n > b.length) throw new Error('unsupported head');
  let arg = 0;
  for (let i = 1; i <= n; i++) arg = arg * 256 + b[p + i]!;
  return { major, arg, end: p + 1 + n, ai };
}

function skip(b: Uint8Array, p: number): number {
  const h = head(b, p);
  switch (h.major) {
    case 0:
    case 1:
    case 7:
      return h.end;
    case 2:
    case 3:
      return h.end + h.arg;
    case 4: {
      let q = h.end;
      for (let i = 0; i < h.arg; i++) q = skip(b, q);
      return q;
    }
    case 5: {
      let q = h.end;
      for (let i = 0; i < h.arg * 2; i++) q = skip(b, q);
      return q;
    }
    default:
      return skip(b, h.end); // tag: one item follows
  }
}

const decoder = new TextDecoder();

/** Start of the value of `key` in the map at `p`, or -1. */
function find(b: Uint8Array, p: number, key: string): number {
  const h = head(b, p);
  if (h.major !== 5) return -1;
  let q = h.end;
  for (let i = 0; i < h.arg; i++) {
    const k = head(b, q);
    const valueAt = k.major === 3 ? k.end + k.arg : skip(b, q);
    if (
      k.major === 3 &&
      k.arg === key.length &&
      decoder.decode(b.subarray(k.end, valueAt)) === key
    ) {
      return valueAt;
    }
    q = skip(b, valueAt);
  }
  return -1;
}

/** Byte span of `body.out[1]`, or null. */
function outputSpan(b: Uint8Array): [number, number] | null {
  const body = find(b, 0, 'body');
  if (body < 0) return null;
  const out = find(b, body, 'out');
  if (out < 0) return null;
  const h = head(b, out);
  if (h.major !== 4 || h.arg !== 2) return null;
  const start = skip(b, h.end);
  return [start, skip(b, start)];
}

/** CIDv1 dag-cbor sha3-256 of bytes, as its string. */
function dagCborSha3(bytes: Uint8Array): string {
  const digest = hash('sha3-256', bytes, 'buffer');
  const cid = new Uint8Array(4 + digest.length);
  cid[0] = 0x01;
  cid[1] = 0x71;
  cid[2] = 0x16;
  cid[3] = 0x20;
  cid.set(digest, 4);
  return linkString(cid);
}

type Raw = Record<string, unknown>;

const isMap = (v: unknown): v is Raw =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  !(v instanceof Uint8Array) &&
  !(v instanceof RawLink);

const link = (v: unknown): string | null => (v instanceof RawLink ? linkString(v.bytes) : null);

function collect(value: unknown, path: string, out: Map<string, string>, depth: number): void {
  if (depth > 256 || value === null || typeof value !== 'object') return;
  if (value instanceof RawLink) {
    const s = linkString(value.bytes);
    if (!out.has(s)) out.set(s, path);
    return;
  }
  if (value instanceof Uint8Array) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => collect(v, `${path}/${i}`, out, depth + 1));
    return;
  }
  for (const [k, v] of Object.entries(value)) collect(v, `${path}/${k}`, out, depth + 1);
}

// Resources repeat: remember their parse, within bounds.
const resources = new Map<string, string | null>();
function resourceCid(resource: string): string | null {
  const hit = resources.get(resource);
  if (hit !== undefined) return hit;
  let out: string | null;
  try {
    out = cidToString(CID.parse(resource));
  } catch {
    out = null;
  }
  if (resources.size >= 4096) resources.clear();
  resources.set(resource, out);
  return out;
}

/**
 * Rows of an encoded receipt event, or `null` when the bytes are not a receipt event this path
 * handles (then use `decodeEvent` + `receiptEventToRows`, which also explain the failure).
 */
export function fastReceiptRows(bytes: Uint8Array): ReceiptRows | null {
  let m: unknown;
  let span: [number, number] | null;
  try {
    m = cborg.decode(bytes, options);
    span = outputSpan(bytes);
  } catch {
    return null;
  }
  if (!isMap(m) || m.type !== 'receipt' || m.v !== EVENT_VERSION || span === null) return null;
  const instruction = link(m.instruction);
  const receipt = link(m.receipt);
  const invocation = link(m.invocation);
  const workflow = m.workflow === null ? '' : link(m.workflow);
  const run = m.run;
  const body = m.body;
  if (instruction === null || receipt === null || invocation === null || workflow === null) {
    return null;
  }
  if (!isMap(run) || typeof run.rsc !== 'string' || typeof run.op !== 'string' || !isMap(body)) {
    return null;
  }
  const out = body.out;
  if (!Array.isArray(out) || out.length !== 2 || (out[0] !== 'ok' && out[0] !== 'error')) {
    return null;
  }
  if (
    link(body.ran) === null ||
    typeof m.replayed !== 'boolean' ||
    typeof m.executor !== 'string'
  ) {
    return null;
  }
  const at = m.at;
  const fuel = m.fuel ?? null;
  const duration = m.durationMs ?? null;
  if (typeof at !== 'number' || (fuel !== null && typeof fuel !== 'number')) return null;
  if (duration !== null && typeof duration !== 'number') return null;
  const outcome: 'ok' | 'error' = out[0] === 'ok' ? 'ok' : 'error';
  const input = isMap(run.input) ? run.input : null;
  const func = typeof input?.func === 'string' ? input.func : '';

  const outBytes = bytes.subarray(span[0], span[1]);
  const value: unknown = out[1];
  const major = outBytes[0]! >> 5;
  // Integers, strings, booleans and null read the same from cborg; anything else (floats, links,
  // bytes, containers) is decoded exactly by the IPLD codec.
  const simple =
    ((major === 0 || major === 1) && typeof value === 'number') ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    value === null;
  let output: string;
  try {
    output = dagJson.stringify(simple ? value : dagCbor.decode(outBytes));
  } catch {
    return null;
  }
  const outputCid = dagCborSha3(outBytes);
  const resource = run.rsc.startsWith('ipfs://') ? run.rsc.slice(7) : run.rsc;
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
    fuel,
    duration_ms: duration,
    executor: m.executor,
    at_ms: Math.trunc(at),
    replayed: m.replayed ? 1 : 0,
  };
  const common = {
    instruction_cid: instruction,
    receipt_cid: receipt,
    output_cid: outputCid,
    function: func,
    outcome,
  } as const;
  const lineage: LineageRow[] = [];
  const rc = resourceCid(resource);
  if (rc !== null) lineage.push({ input_cid: rc, role: 'resource', path: 'rsc', ...common });
  const links = new Map<string, string>();
  collect(input?.args, 'args', links, 0);
  for (const [cid, path] of links) lineage.push({ input_cid: cid, role: 'arg', path, ...common });
  return { receipt: row, lineage };
}
