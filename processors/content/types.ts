// The content-store contract. Only processors/content/ imports Helia, blockstores, UnixFS and
// CAR libraries; everything else speaks to content through this interface.
import type { CID } from 'multiformats/cid';

/** Per-call options shared by every content-store call. */
export interface ContentCallOptions {
  /** Aborts the call; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Where a CAR export writes its bytes: called once per chunk, awaited in order. */
export type CarSink = (chunk: Uint8Array) => void | Promise<void>;

/**
 * Content-addressed storage for Wasm modules and data, as UnixFS files.
 *
 * @example
 * ```ts
 * await using store = await createHeliaContentStore({ dataDir: '.ipvm' });
 * const cid = await store.add(bytes); // same CID as `ipfs add --cid-version=1`
 * const back = await store.get(cid);
 * ```
 */
export interface ContentStore {
  /**
   * Store bytes as a UnixFS file (CIDv1, raw leaves, 256 KiB chunks, balanced DAG of at most
   * 174 links per node), returning the same CID `ipfs add --cid-version=1` prints.
   * A file of one chunk or less is stored as a single raw block (`bafkrei…`).
   */
  add(content: Uint8Array | AsyncIterable<Uint8Array>, options?: ContentCallOptions): Promise<CID>;
  /**
   * Read the whole content of a UnixFS file (or raw block).
   * @throws {@link ContentNotFoundError} (retryable) when a block is missing locally.
   */
  get(cid: CID, options?: ContentCallOptions): Promise<Uint8Array>;
  /** Whether the root block of `cid` is present locally (its children are not checked). */
  has(cid: CID, options?: ContentCallOptions): Promise<boolean>;
  /**
   * Write a CARv1 holding `roots` and every block reachable from them to `out`.
   * @throws {@link ContentNotFoundError} when a reachable block is missing.
   */
  exportCar(roots: CID[], out: CarSink, options?: ContentCallOptions): Promise<void>;
  /**
   * Store every block of a CARv1 (bytes or a byte stream), verifying each block's hash.
   * @returns the CAR's roots.
   * @throws {@link CarError} on a malformed CAR or a block whose bytes do not match its CID.
   */
  importCar(
    input: Uint8Array | AsyncIterable<Uint8Array>,
    options?: ContentCallOptions,
  ): Promise<CID[]>;
  /** The content exchange with other nodes, when the store was opened with `network`. */
  readonly network: ContentNetwork | undefined;
  /** Close the blockstore; later calls reject. Idempotent. */
  close(): Promise<void>;
  /** Same as {@link ContentStore.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Construction options of {@link createHeliaContentStore}. */
export interface ContentStoreInit {
  /** Directory holding the blockstore (`<dataDir>/blocks`); made at its first use if missing. */
  dataDir: string;
  /**
   * Exchange blocks with other nodes over libp2p + bitswap. Without it the store uses no
   * network at all.
   */
  network?: ContentNetworkInit;
}

/** Options of the content exchange (libp2p: TCP, Noise, Yamux, identify; bitswap). */
export interface ContentNetworkInit {
  /** Multiaddrs to listen on. @default ['/ip4/127.0.0.1/tcp/0'] */
  listen?: string[];
  /** Peers to dial at start (`/ip4/…/tcp/…/p2p/<peer id>`). More can be dialled later. */
  peers?: string[];
  /**
   * How long a read waits for peers to send a block missing here before it fails with
   * {@link ContentNotFoundError}. @default 10_000
   */
  fetchTimeoutMs?: number;
  /** Reports a peer given at start that could not be dialled. */
  onError?: (error: Error) => void;
}

/** The content exchange of a store opened with `network`. */
export interface ContentNetwork {
  /** This node's libp2p peer id. */
  readonly peerId: string;
  /** The multiaddrs it listens on, with `/p2p/<peer id>`. */
  multiaddrs(): string[];
  /** Connected peers: peer id → remote multiaddr. */
  connections(): Record<string, string>;
  /** Connects to a peer (no-op for this node's own address). Retryable on failure. */
  dial(multiaddr: string, options?: ContentCallOptions): Promise<void>;
}
