/**
 * Large values stored once, as blocks, and linked. {@link withBlocks} wraps a {@link Log}: a
 * record appended with a string or bytes value of at least `threshold` bytes has each such
 * value written once to the `blocks` stream (the value's DAG-CBOR block, by CID) and replaced
 * in the record by its CID, with the block's position beside it. Reads put the values back: what
 * a reader gets is byte for byte the record that was appended. Every reader of the log (the
 * engine, the tables, the console, the CLI, a peer node) therefore sees whole records, and a
 * value that several records carry (the workflow, the released task, the receipt's instruction;
 * every re-run) is in the log once.
 *
 * A record that references blocks carries the `ipvm-blocks` header and, in its envelope,
 * {@link BLOCKS_FIELD}: `[{path, cid, partition, offsets}]` — where the value was (keys and list
 * indices from the envelope's top), and where its block is (a block larger than `chunkBytes`
 * spans several records, in order). A reference that cannot be read back (the block is gone, or
 * its bytes do not hash to its CID) yields the record unchanged with the reason in the
 * `ipvm-blocks-error` header: decoding it fails with that located reason, and the record is
 * dead-lettered like any bad record. Where a block is, is learnt only from a block read and
 * checked, never from a record's word alone.
 *
 * Blocks are durable before the record that references them is appended, so a crash leaves at
 * worst a block no record references (it is written again, or reused, by the next append).
 * The `blocks` stream needs at least the retention of the streams whose records reference it.
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import type {
  AbortOptions,
  AppendRecord,
  AppendResult,
  ConsumeOptions,
  Log,
  LogRecord,
  ReadOptions,
} from '../../streams/log.ts';
import { MESSAGE_ID_HEADER } from '../../streams/log.ts';
import { forwardLog } from '../../streams/forward.ts';
import { readAt } from '../../streams/read-at.ts';
import { cidOfBytes, encodeBlock, sha2_256 } from '../../schemas/cid.ts';
import { dagCbor } from '../../schemas/codecs.ts';
import { BLOCKS_FIELD } from '../../schemas/events.ts';
import { isIpldMap, type IpldMap, type IpldValue } from '../../schemas/ipld.ts';

/** On a record that references blocks: how many. */
export const BLOCKS_HEADER = 'ipvm-blocks';
/** On a record whose blocks could not be read back: why (the record is left as stored). */
export const BLOCKS_ERROR_HEADER = 'ipvm-blocks-error';
/** On a block record: `<cid> <chunk>/<chunks>`. */
const BLOCK_HEADER = 'ipvm-block';

/** Construction options of {@link withBlocks}. */
export interface BlocksInit {
  /** The full name of the blocks stream (`topology.name('blocks')`). */
  stream: string;
  /** Smallest string or bytes value stored as a block, in bytes. @default 65536 */
  threshold?: number;
  /** Largest block record; a larger block is cut into several. @default 524288 */
  chunkBytes?: number;
  /**
   * Bytes of blocks kept for the next record that references them: those read back, and those
   * written here (the live follow reads a record back right after its append). @default 16 MiB
   */
  cacheBytes?: number;
}

/** Defaults of {@link BlocksInit}. */
export const DEFAULT_LARGE_VALUE_BYTES = 64 * 1024;
const DEFAULT_CHUNK_BYTES = 512 * 1024;
const DEFAULT_CACHE_BYTES = 16 * 1024 * 1024;

/** Where a block is: its records' partition and offsets, in order. */
interface Where {
  partition: number;
  offsets: number[];
}

type Path = Array<string | number>;

interface Leaf {
  parent: IpldMap | IpldValue[];
  key: string | number;
  path: Path;
  value: string | Uint8Array;
}

/** A Log whose large values are stored once (see the module notes). */
export function withBlocks(log: Log, init: BlocksInit): Log {
  const blocks = init.stream;
  const threshold = init.threshold ?? DEFAULT_LARGE_VALUE_BYTES;
  const chunkBytes = init.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const cacheBytes = init.cacheBytes ?? DEFAULT_CACHE_BYTES;
  if (!(threshold >= 1)) throw new RangeError(`threshold must be at least 1 (got ${threshold})`);
  if (!(chunkBytes >= 1)) throw new RangeError(`chunkBytes must be at least 1 (got ${chunkBytes})`);
  /** Blocks known to be in the log (written here, or referenced by a record read here). */
  const known = new Map<string, Where>();
  /** Blocks being written, so two appends of one value write it once. */
  const writing = new Map<string, Promise<Where>>();
  /** Values read back, least recently used first. */
  const cache = new Map<string, { value: string | Uint8Array; bytes: number }>();
  let cached = 0;

  const large = (v: unknown): v is string | Uint8Array =>
    v instanceof Uint8Array
      ? v.byteLength >= threshold
      : typeof v === 'string' &&
        v.length * 3 >= threshold &&
        (v.length >= threshold || Buffer.byteLength(v) >= threshold);

  /** The large string and bytes values under `root`, depth first. */
  function leaves(root: IpldMap): Leaf[] {
    const found: Leaf[] = [];
    const stack: Array<{ node: IpldMap | IpldValue[]; path: Path }> = [{ node: root, path: [] }];
    while (stack.length > 0) {
      const { node, path } = stack.pop()!;
      const visit = (key: string | number, v: IpldValue): void => {
        if (large(v)) found.push({ parent: node, key, path: [...path, key], value: v });
        else if (Array.isArray(v) || (isIpldMap(v) && CID.asCID(v) === null))
          stack.push({ node: v, path: [...path, key] });
      };
      if (Array.isArray(node)) node.forEach((v, i) => visit(i, v));
      else for (const [k, v] of Object.entries(node)) if (k !== BLOCKS_FIELD) visit(k, v);
    }
    return found;
  }

  /** Writes the blocks not yet in the log, in one append; resolves with every block's place. */
  async function put(
    wanted: Map<string, { cid: CID; bytes: Uint8Array }>,
    options?: AbortOptions,
  ): Promise<Map<string, Where>> {
    const places = new Map<string, Where>();
    const waits: Array<Promise<void>> = [];
    const records: AppendRecord[] = [];
    const owners: Array<{ key: string; from: number; count: number }> = [];
    for (const [key, block] of wanted) {
      const have = known.get(key);
      if (have !== undefined) {
        places.set(key, have);
        continue;
      }
      const other = writing.get(key);
      if (other !== undefined) {
        waits.push(other.then((w) => void places.set(key, w)));
        continue;
      }
      const count = Math.max(1, Math.ceil(block.bytes.byteLength / chunkBytes));
      owners.push({ key, from: records.length, count });
      for (let i = 0; i < count; i++)
        records.push({
          key,
          value: block.bytes.subarray(i * chunkBytes, (i + 1) * chunkBytes),
          headers: { [BLOCK_HEADER]: `${key} ${i}/${count}`, [MESSAGE_ID_HEADER]: `${key}/${i}` },
        });
    }
    if (records.length > 0) {
      const appended = appendChunks(records, options).then((results) => {
        const placed = new Map<string, Where>();
        for (const o of owners) {
          const mine = results.slice(o.from, o.from + o.count);
          const where = { partition: mine[0]!.partition, offsets: mine.map((r) => r.offset) };
          known.set(o.key, where);
          placed.set(o.key, where);
        }
        return placed;
      });
      for (const o of owners)
        writing.set(
          o.key,
          appended.then((p) => p.get(o.key)!),
        );
      try {
        for (const [key, where] of await appended) places.set(key, where);
      } finally {
        for (const o of owners) writing.delete(o.key);
      }
    }
    await Promise.all(waits);
    return places;
  }

  /**
   * Appends block records in calls of at most `chunkBytes` (but one record at least): a broker
   * limits the bytes of one batch (Kafka's `message.max.bytes`, NATS's `max_payload`), not only
   * of one record.
   */
  async function appendChunks(
    records: AppendRecord[],
    options?: AbortOptions,
  ): Promise<AppendResult[]> {
    const results: AppendResult[] = [];
    for (let from = 0; from < records.length;) {
      let to = from + 1;
      let bytes = records[from]!.value.byteLength;
      while (to < records.length && bytes + records[to]!.value.byteLength <= chunkBytes)
        bytes += records[to++]!.value.byteLength;
      for (const r of await log.append(blocks, records.slice(from, to), options)) results.push(r);
      from = to;
    }
    return results;
  }

  async function append(
    stream: string,
    records: readonly AppendRecord[],
    options?: AbortOptions,
  ): Promise<AppendResult[]> {
    if (stream === blocks) return log.append(stream, records, options);
    const rewrites: Array<{ index: number; envelope: IpldMap; found: Leaf[] }> = [];
    const wanted = new Map<string, { cid: CID; bytes: Uint8Array; value: string | Uint8Array }>();
    const cids = new Map<Leaf, CID>();
    for (let index = 0; index < records.length; index++) {
      const record = records[index]!;
      if (
        record.value.byteLength < threshold ||
        record.headers?.[BLOCKS_HEADER] !== undefined ||
        !mayHoldLarge(record.value, threshold)
      )
        continue;
      let envelope: IpldValue;
      try {
        envelope = dagCbor.decode(record.value);
      } catch {
        continue; // not DAG-CBOR: stored as it is
      }
      if (!isIpldMap(envelope) || CID.asCID(envelope) !== null) continue;
      const found = leaves(envelope);
      if (found.length === 0) continue;
      for (const leaf of found) {
        const block = encodeBlock(leaf.value);
        const key = block.cid.toString();
        cids.set(leaf, block.cid);
        if (!wanted.has(key))
          wanted.set(key, { cid: block.cid, bytes: block.bytes, value: leaf.value });
      }
      rewrites.push({ index, envelope, found });
    }
    if (rewrites.length === 0) return log.append(stream, records, options);
    const places = await put(wanted, options);
    // Durable now: the record read back finds its values here, not on disk again (a copy of
    // bytes: the appender's buffer may be reused once the append returns).
    for (const [key, { value, bytes }] of wanted)
      remember(key, value instanceof Uint8Array ? value.slice() : value, bytes.byteLength);
    const out = records.slice();
    for (const { index, envelope, found } of rewrites) {
      const refs = found.map((leaf) => {
        const cid = cids.get(leaf)!;
        const where = places.get(cid.toString())!;
        (leaf.parent as Record<string | number, IpldValue>)[leaf.key] = cid;
        return { path: leaf.path, cid, partition: where.partition, offsets: where.offsets };
      });
      const record = records[index]!;
      out[index] = {
        key: record.key,
        value: dagCbor.encode({ ...envelope, [BLOCKS_FIELD]: refs }),
        headers: { ...record.headers, [BLOCKS_HEADER]: String(refs.length) },
      };
    }
    return log.append(stream, out, options);
  }

  /** The value of the block at `where`, checked against its CID. */
  async function readBlock(
    cid: CID,
    where: Where,
    signal?: AbortSignal,
  ): Promise<string | Uint8Array> {
    const key = cid.toString();
    const hit = cache.get(key);
    if (hit !== undefined) {
      cache.delete(key);
      cache.set(key, hit);
      return hit.value;
    }
    const at = `${blocks}/${where.partition}@${where.offsets.join(',')}`;
    const chunks = await readAt(log, blocks, where.partition, where.offsets, { signal });
    for (const record of chunks.values())
      if (record.key !== key) throw new Error(`${at}: holds block ${record.key}, not ${key}`);
    if (chunks.size !== where.offsets.length)
      throw new Error(
        `block ${key} is not in the log (${at}: ${chunks.size} of ${where.offsets.length} records)`,
      );
    const bytes = Buffer.concat(where.offsets.map((o) => chunks.get(o)!.value));
    const hasher = cid.multihash.code === sha2_256.code ? sha2_256 : undefined;
    if (cid.code !== dagCbor.code || !cidOfBytes(bytes, hasher).equals(cid))
      throw new Error(`block ${key} (${at}): its bytes hash to another CID`);
    const value = dagCbor.decode(bytes);
    if (typeof value !== 'string' && !(value instanceof Uint8Array))
      throw new Error(`block ${key} (${at}): not a string or bytes value`);
    // Learnt only from a block read and checked here: a record cannot point later appends of
    // the value at a wrong place.
    known.set(key, where);
    remember(key, value, bytes.byteLength);
    return value;
  }

  /** Keeps a block's value for the next read, evicting the least recently used. */
  function remember(key: string, value: string | Uint8Array, bytes: number): void {
    if (bytes > cacheBytes || cache.has(key)) return;
    cache.set(key, { value, bytes });
    cached += bytes;
    for (const [k, v] of cache) {
      if (cached <= cacheBytes) break;
      cache.delete(k);
      cached -= v.bytes;
    }
  }

  /** The record as appended, or with the reason its blocks could not be read. */
  async function inline(record: LogRecord, signal?: AbortSignal): Promise<LogRecord> {
    const where = `${record.stream}/${record.partition}@${record.offset}`;
    try {
      const envelope = dagCbor.decode(record.value);
      if (!isIpldMap(envelope) || !Array.isArray(envelope[BLOCKS_FIELD]))
        throw new Error(`the ${BLOCKS_HEADER} header is set but ${BLOCKS_FIELD} is not a list`);
      for (const [i, ref] of envelope[BLOCKS_FIELD].entries()) {
        const { path, cid, place } = parseRef(ref, `${BLOCKS_FIELD}[${i}]`);
        let parent: IpldValue = envelope;
        for (const step of path.slice(0, -1))
          parent = (parent as Record<string | number, IpldValue> | null)?.[step] ?? null;
        const last = path[path.length - 1]!;
        const holder = parent as Record<string | number, IpldValue> | null;
        if (holder === null || typeof holder !== 'object' || !CID.asCID(holder[last])?.equals(cid))
          throw new Error(
            `${BLOCKS_FIELD}[${i}]: no link to ${cid.toString()} at ${path.join('.')}`,
          );
        holder[last] = await readBlock(cid, place, signal);
      }
      delete envelope[BLOCKS_FIELD];
      const headers = { ...record.headers };
      delete headers[BLOCKS_HEADER];
      return { ...record, value: dagCbor.encode(envelope), headers };
    } catch (err) {
      return {
        ...record,
        headers: {
          ...record.headers,
          [BLOCKS_ERROR_HEADER]: `${where}: ${(err as Error).message}`,
        },
      };
    }
  }

  function resolving(
    iterable: AsyncIterable<LogRecord>,
    signal: AbortSignal | undefined,
  ): AsyncIterable<LogRecord> {
    const inlined = async (record: LogRecord): Promise<IteratorResult<LogRecord>> => {
      const value = await inline(record, signal);
      // An abort during the block read ends the iteration, as it would have ended the read.
      if (signal?.aborted === true && value.headers[BLOCKS_ERROR_HEADER] !== undefined)
        return { done: true, value: undefined };
      return { done: false, value };
    };
    return {
      [Symbol.asyncIterator]() {
        const it = iterable[Symbol.asyncIterator]();
        return {
          // One `then` per record (no async function): reads are the hot path of recovery.
          next: () =>
            it
              .next()
              .then((n) =>
                n.done === true || n.value.headers[BLOCKS_HEADER] === undefined
                  ? n
                  : inlined(n.value),
              ),
          async return(value?: unknown) {
            await it.return?.(value);
            return { done: true, value: undefined };
          },
        };
      },
    };
  }

  return forwardLog(log, {
    append,
    read: (stream, options?: ReadOptions) =>
      stream === blocks
        ? log.read(stream, options)
        : resolving(log.read(stream, options), options?.signal),
    consume: (stream, options: ConsumeOptions) =>
      stream === blocks
        ? log.consume(stream, options)
        : resolving(log.consume(stream, options), options.signal),
  });
}

/**
 * False when the bytes cannot hold a CBOR string or byte string of at least `threshold` bytes:
 * no string head declaring such a length that fits in them. A record larger than the threshold
 * without a large value (a wide workflow's submission, its end's list of CIDs) is then not
 * decoded again here: that would cost ~130 ms for a 20 000-task submission.
 */
export function mayHoldLarge(bytes: Uint8Array, threshold: number): boolean {
  if (threshold < 24) return true; // a length in the head itself: every byte could be one
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    // Major type 2 (bytes) or 3 (text), additional info 24–27: a 1-, 2-, 4- or 8-byte length.
    if ((b & 0xdc) !== 0x58) continue;
    const size = 1 << (b & 0x03);
    if (i + 1 + size > n) continue;
    let length = 0;
    for (let k = 1; k <= size; k++) length = length * 256 + bytes[i + k]!;
    if (length >= threshold && i + 1 + size + length <= n) return true;
  }
  return false;
}

function parseRef(ref: IpldValue, at: string): { path: Path; cid: CID; place: Where } {
  if (!isIpldMap(ref)) throw new Error(`${at}: expected {path, cid, partition, offsets}`);
  const cid = CID.asCID(ref.cid);
  const { path, partition, offsets } = ref;
  if (cid === null) throw new Error(`${at}.cid: expected a link`);
  if (
    !Array.isArray(path) ||
    path.length === 0 ||
    !path.every((s) => typeof s === 'string' || (typeof s === 'number' && Number.isSafeInteger(s)))
  )
    throw new Error(`${at}.path: expected a non-empty list of keys and indices`);
  if (typeof partition !== 'number' || !Number.isSafeInteger(partition) || partition < 0)
    throw new Error(`${at}.partition: expected a partition number`);
  if (
    !Array.isArray(offsets) ||
    offsets.length === 0 ||
    !offsets.every(
      (o, i) =>
        typeof o === 'number' &&
        Number.isSafeInteger(o) &&
        o >= 0 &&
        (i === 0 || o > (offsets[i - 1] as number)),
    )
  )
    throw new Error(`${at}.offsets: expected a non-empty list of increasing offsets`);
  return { path: path as Path, cid, place: { partition, offsets: offsets as number[] } };
}
