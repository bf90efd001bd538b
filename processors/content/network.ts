// Content exchange between nodes: Helia over libp2p (TCP, Noise, Yamux, identify) with bitswap,
// and nothing else (no DHT, relay, autoNAT, UPnP: peers are given or announced on the cluster's
// `nodes` stream). Blocks fetched from peers are checked against their CID by Helia and written
// to the node's own blockstore. Imported lazily: loading libp2p costs over a second.
import type { Blockstore } from 'interface-blockstore';
import type { CID } from 'multiformats/cid';
import { ContentError } from './errors.ts';
import type { ContentNetwork, ContentNetworkInit } from './types.ts';

/** @default 10_000 */
export const DEFAULT_FETCH_TIMEOUT_MS = 10_000;
/** @default ['/ip4/127.0.0.1/tcp/0'] */
export const DEFAULT_LISTEN = ['/ip4/127.0.0.1/tcp/0'];

async function loadLibs() {
  const [helia, heliaLibp2p, bitswap, tcp, noise, yamux, identify, multiaddr] = await Promise.all([
    import('helia'),
    import('@helia/libp2p'),
    import('@helia/bitswap'),
    import('@libp2p/tcp'),
    import('@libp2p/noise'),
    import('@libp2p/yamux'),
    import('@libp2p/identify'),
    import('@multiformats/multiaddr'),
  ]);
  return { helia, heliaLibp2p, bitswap, tcp, noise, yamux, identify, multiaddr };
}

/** A started libp2p/bitswap node over `blockstore`, plus what the content store needs of it. */
export interface StartedNetwork extends ContentNetwork {
  /** Reads one block, from the blockstore or from peers (verified), within `timeoutMs`. */
  getBlock(cid: CID, options: { signal?: AbortSignal }): AsyncIterable<Uint8Array>;
  /** The networked blockstore (reads fetch from peers), for UnixFS. */
  readonly blockstore: Blockstore;
  readonly fetchTimeoutMs: number;
  stop(): Promise<void>;
}

export async function startContentNetwork(
  blockstore: Blockstore,
  init: ContentNetworkInit,
): Promise<StartedNetwork> {
  const L = await loadLibs();
  const helia = L.bitswap.withBitswap(
    L.heliaLibp2p.withLibp2pLight(L.helia.createHeliaLight({ blockstore }), {
      addresses: { listen: init.listen ?? DEFAULT_LISTEN },
      transports: [L.tcp.tcp()],
      connectionEncrypters: [L.noise.noise()],
      streamMuxers: [L.yamux.yamux()],
      peerDiscovery: [],
      // Without identify, bitswap never learns a peer speaks it and wants hang until aborted.
      services: { identify: L.identify.identify() },
    }),
  );
  try {
    await helia.start();
  } catch (error) {
    throw new ContentError(
      `cannot start the content exchange on ${(init.listen ?? DEFAULT_LISTEN).join(', ')}`,
      { cause: error, retryable: false },
    );
  }
  const libp2p = helia.libp2p;
  const self = libp2p.peerId.toString();
  const network: StartedNetwork = {
    peerId: self,
    blockstore: helia.blockstore,
    fetchTimeoutMs: init.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS,
    multiaddrs: () => libp2p.getMultiaddrs().map(String),
    connections: () => {
      const out: Record<string, string> = {};
      for (const c of libp2p.getConnections())
        out[c.remotePeer.toString()] = c.remoteAddr.toString();
      return out;
    },
    async dial(addr, options = {}) {
      const ma = L.multiaddr.multiaddr(addr);
      if (ma.getComponents().some((c) => c.name === 'p2p' && c.value === self)) return;
      try {
        await libp2p.dial(ma, { signal: options.signal ?? AbortSignal.timeout(5_000) });
      } catch (error) {
        throw new ContentError(`cannot dial peer ${addr}`, { cause: error, retryable: true });
      }
    },
    async *getBlock(cid, options) {
      yield* helia.blockstore.get(cid, options);
    },
    async stop() {
      await helia.stop();
    },
  };
  for (const peer of init.peers ?? []) {
    // A peer that is down now may come later through the membership stream: not fatal.
    await network.dial(peer).catch((error: unknown) => init.onError?.(error as Error));
  }
  return network;
}
