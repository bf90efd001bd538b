// A ContentStore on Helia's UnixFS over a filesystem blockstore: with no network at all, or
// with a content exchange (network.ts) through which missing blocks come from peers.
// Libraries are imported lazily, each on first use: opening needs nothing (the blockstore opens
// at its first use, or at once with a network); UnixFS (~20 MiB and most of a second to import)
// only for files of more than one chunk; CAR and codecs only for CAR import/export. A file of
// one chunk or less is a single raw block, stored and read without UnixFS (the same block and
// CID as `ipfs add`), so a node running small modules never loads it.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';
import type { FsBlockstore } from 'blockstore-fs';
import { ContentError, ContentNotFoundError, CarError } from './errors.ts';
import type { StartedNetwork } from './network.ts';
import type { CarSink, ContentCallOptions, ContentStore, ContentStoreInit } from './types.ts';

const RAW_CODE = 0x55;
const DAG_PB_CODE = 0x70;
const DAG_CBOR_CODE = 0x71;
const SHA2_256 = 0x12;
const SHA3_256 = 0x16;

/** Chunk size `ipfs add` uses by default. */
export const UNIXFS_CHUNK_BYTES = 262_144;
/** Links per interior node `ipfs add` uses by default (balanced layout). */
export const UNIXFS_MAX_LINKS = 174;

async function loadUnixfs() {
  const [unixfsMod, importerChunker, importerLayout] = await Promise.all([
    import('@helia/unixfs'),
    import('ipfs-unixfs-importer/chunker'),
    import('ipfs-unixfs-importer/layout'),
  ]);
  return { unixfsMod, importerChunker, importerLayout };
}
async function loadCar() {
  const [car, dagPb, dagCbor] = await Promise.all([
    import('@ipld/car'),
    import('@ipld/dag-pb'),
    import('@ipld/dag-cbor'),
  ]);
  return { car, dagPb, dagCbor };
}

// Imports are cached per process on purpose: they are code loading, not state.
let unixfsLibs: ReturnType<typeof loadUnixfs> | undefined;
let carLibs: ReturnType<typeof loadCar> | undefined;
const unixfsLib = (): ReturnType<typeof loadUnixfs> => (unixfsLibs ??= loadUnixfs());
const carLib = (): ReturnType<typeof loadCar> => (carLibs ??= loadCar());
type UnixFS = ReturnType<Awaited<ReturnType<typeof loadUnixfs>>['unixfsMod']['unixfs']>;
type ImporterOptions = NonNullable<Parameters<UnixFS['addBytes']>[1]>;

function isNotFound(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'NotFoundError' || (err as { code?: string }).code === 'ERR_NOT_FOUND';
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}

async function concat(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of chunks) {
    parts.push(chunk);
    length += chunk.byteLength;
  }
  // Blockstores hand out Node Buffers (possibly views into a shared pool): return a plain,
  // exactly-sized Uint8Array so callers can hand it to Wasm or compare it structurally.
  if (parts.length === 1) {
    const only = parts[0]!;
    if (only.constructor === Uint8Array) return only;
    return new Uint8Array(only.buffer, only.byteOffset, only.byteLength).slice();
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Digest of `bytes` with the hash named by multihash `code`, or undefined if unsupported. */
function digestOf(code: number, bytes: Uint8Array): Uint8Array | undefined {
  if (code === SHA2_256) return createHash('sha256').update(bytes).digest();
  if (code === SHA3_256) return createHash('sha3-256').update(bytes).digest();
  return undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function collectCids(value: unknown, out: CID[]): void {
  const cid = CID.asCID(value);
  if (cid) {
    out.push(cid);
    return;
  }
  if (value instanceof Uint8Array || value === null || typeof value !== 'object') return;
  for (const v of Array.isArray(value) ? value : Object.values(value)) collectCids(v, out);
}

/**
 * Open (or create) a content store under `init.dataDir`.
 *
 * @example
 * ```ts
 * await using store = await createHeliaContentStore({ dataDir: '.ipvm' });
 * ```
 */
export async function createHeliaContentStore(init: ContentStoreInit): Promise<ContentStore> {
  // Opened on first use: a run answered from the memo never reads content, and the blockstore's
  // module brings a glob library (~70 modules) with it. The network needs it from the start.
  let opening: Promise<FsBlockstore> | undefined;
  const blocks = (): Promise<FsBlockstore> =>
    (opening ??= import('blockstore-fs')
      .then(async ({ FsBlockstore }) => {
        const b = new FsBlockstore(join(init.dataDir, 'blocks'));
        await b.open();
        return b;
      })
      .catch((error: unknown) => {
        opening = undefined; // the next use tries again
        throw error;
      }));
  let network: StartedNetwork | undefined;
  if (init.network !== undefined) {
    const blockstore = await blocks();
    const { startContentNetwork } = await import('./network.ts');
    network = await startContentNetwork(blockstore, init.network).catch(async (error: unknown) => {
      await blockstore.close();
      throw error;
    });
  }
  /** The caller's signal, bounded by the fetch timeout when peers may be asked. */
  const bounded = (signal: AbortSignal | undefined): AbortSignal | undefined => {
    if (network === undefined) return signal;
    const timeout = AbortSignal.timeout(network.fetchTimeoutMs);
    return signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  };
  const notFound = (cid: CID, err: unknown, signal: AbortSignal | undefined): Error => {
    if (signal?.aborted === true) return signal.reason as Error;
    if (network === undefined) return new ContentNotFoundError(cid, { cause: err });
    const peers = Object.keys(network.connections()).length;
    return new ContentNotFoundError(cid, {
      cause: err,
      detail: `not stored here, and none of ${peers} connected peers sent it within ${network.fetchTimeoutMs} ms`,
    });
  };
  let unixfs: Promise<{ fs: UnixFS; importerOptions: ImporterOptions }> | undefined;
  const files = (): Promise<{ fs: UnixFS; importerOptions: ImporterOptions }> =>
    (unixfs ??= Promise.all([unixfsLib(), blocks()]).then(([L, blockstore]) => ({
      fs: L.unixfsMod.unixfs({ blockstore: network?.blockstore ?? blockstore }),
      importerOptions: {
        cidVersion: 1 as const,
        rawLeaves: true,
        reduceSingleLeafToSelf: true,
        chunker: L.importerChunker.fixedSize({ chunkSize: UNIXFS_CHUNK_BYTES }),
        layout: L.importerLayout.balanced({ maxChildrenPerNode: UNIXFS_MAX_LINKS }),
      },
    })));
  let closed = false;

  const checkOpen = (): void => {
    if (closed) throw new ContentError('content store is closed', { retryable: false });
  };

  const getBlock = async (cid: CID, signal?: AbortSignal): Promise<Uint8Array> => {
    try {
      return await concat((await blocks()).get(cid, { signal }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      if (network === undefined) throw new ContentNotFoundError(cid, { cause: err });
    }
    try {
      return await concat(network.getBlock(cid, { signal: bounded(signal) }));
    } catch (err) {
      throw notFound(cid, err, signal);
    }
  };

  const store: ContentStore = {
    async add(content, options: ContentCallOptions = {}) {
      checkOpen();
      throwIfAborted(options.signal);
      if (
        content instanceof Uint8Array &&
        content.byteLength > 0 &&
        content.byteLength <= UNIXFS_CHUNK_BYTES
      ) {
        // One chunk with raw leaves, reduced to itself: the file is one raw block.
        const cid = CID.createV1(RAW_CODE, await sha256.digest(content));
        await (await blocks()).put(cid, content, { signal: options.signal });
        return cid;
      }
      const { fs, importerOptions } = await files();
      if (content instanceof Uint8Array) {
        return fs.addBytes(content, { ...importerOptions, signal: options.signal });
      }
      return fs.addByteStream(content, { ...importerOptions, signal: options.signal });
    },

    async get(cid, options: ContentCallOptions = {}) {
      checkOpen();
      throwIfAborted(options.signal);
      if (cid.code === RAW_CODE || cid.code === DAG_CBOR_CODE) {
        return getBlock(cid, options.signal);
      }
      const { fs } = await files();
      try {
        return await concat(
          fs.cat(cid, { signal: bounded(options.signal), offline: network === undefined }),
        );
      } catch (err) {
        if (network !== undefined && !(err instanceof ContentError)) {
          throw notFound(cid, err, options.signal);
        }
        if (isNotFound(err)) throw new ContentNotFoundError(cid, { cause: err });
        throw err;
      }
    },

    async has(cid, options: ContentCallOptions = {}) {
      checkOpen();
      throwIfAborted(options.signal);
      return (await blocks()).has(cid, { signal: options.signal });
    },

    async exportCar(roots, out: CarSink, options: ContentCallOptions = {}) {
      checkOpen();
      const L = await carLib();
      const { writer, out: bytes } = L.car.CarWriter.create(roots);
      const pump = (async () => {
        for await (const chunk of bytes) await out(chunk);
      })();
      try {
        const seen = new Set<string>();
        const queue = [...roots];
        while (queue.length > 0) {
          throwIfAborted(options.signal);
          const cid = queue.shift()!;
          const key = cid.toString();
          if (seen.has(key)) continue;
          seen.add(key);
          const block = await getBlock(cid, options.signal);
          await writer.put({ cid, bytes: block });
          if (cid.code === DAG_PB_CODE) {
            for (const link of L.dagPb.decode(block).Links) queue.push(link.Hash);
          } else if (cid.code === DAG_CBOR_CODE) {
            collectCids(L.dagCbor.decode(block), queue);
          }
        }
      } finally {
        await writer.close();
        await pump;
      }
    },

    async importCar(input, options: ContentCallOptions = {}) {
      checkOpen();
      const L = await carLib();
      let reader;
      try {
        reader =
          input instanceof Uint8Array
            ? await L.car.CarBlockIterator.fromBytes(input)
            : await L.car.CarBlockIterator.fromIterable(input);
      } catch (err) {
        throw new CarError('not a CAR file', { cause: err });
      }
      const roots = await reader.getRoots();
      for await (const { cid, bytes } of reader) {
        throwIfAborted(options.signal);
        const digest = digestOf(cid.multihash.code, bytes);
        if (digest === undefined) {
          throw new CarError(
            `unsupported hash 0x${cid.multihash.code.toString(16)} in ${cid.toString()}`,
          );
        }
        if (!sameBytes(digest, cid.multihash.digest)) {
          throw new CarError(`block bytes do not match ${cid.toString()}`);
        }
        await (await blocks()).put(cid, bytes, { signal: options.signal });
      }
      return roots;
    },

    network,

    async close() {
      if (closed) return;
      closed = true;
      await network?.stop();
      await opening?.then(
        (b) => b.close(),
        () => undefined,
      );
    },

    [Symbol.asyncDispose]() {
      return store.close();
    },
  };
  return store;
}
