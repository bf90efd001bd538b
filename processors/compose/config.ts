/**
 * What a node is made of, as data: the one place the CLI (`run`, `start`, `call`, `replay`,
 * `sql`, …), the benchmarks and embedding programs describe a node before
 * {@link openNode} builds it.
 *
 * @module
 */
import type { FsyncPolicy } from '../../streams/file/index.ts';
import type { AuthMode, Authority } from '../auth/types.ts';
import type { NodeProgress } from '../engine/types.ts';
import type { Logger } from '../logger.ts';

/**
 * The streams: the embedded file log, Kafka, or NATS JetStream. On each, a string or bytes value
 * of at least `largeValueBytes` (default 64 KiB) is stored once on the `blocks` stream and
 * linked from the records that carry it (`processors/blocks/`).
 */
export type LogConfig = (
  | {
      backend: 'file';
      fsync?: FsyncPolicy;
      /** See the file log's `pollWhileSyncingMs`. @default 1 */
      pollWhileSyncingMs?: number;
    }
  | { backend: 'kafka'; brokers: string[] }
  | { backend: 'nats'; servers: string }
) & { largeValueBytes?: number };

/** Who may run what (see `processors/auth/`). */
export interface AuthConfig {
  /** `open`: anyone who reaches the node; `ucan`: every task needs a proof. @default 'open' */
  mode?: AuthMode;
  /** Root DIDs allowed to delegate (the node itself always is). */
  trust?: string[];
}

/** The live tables (`processors/tables/`): the embedded engine, or a ClickHouse server. */
export interface TablesConfig {
  clickhouseUrl?: string;
}

/** The JSON-RPC/WebSocket API, `/metrics` and the console (`processors/api/`). */
export interface ApiConfig {
  host?: string;
  /** 0 picks a free port. */
  port: number;
  allowedHosts?: string[];
  allowedOrigins?: string[];
  /** Let the console submit, re-run and cancel. @default false */
  consoleActions?: boolean;
}

/** A node, as data. Every field has a default: `{}` is the embedded node in the data dir. */
export interface NodeConfig {
  /** @default $IPVM_DATA_DIR or ./.ipvm */
  dataDir?: string;
  /** @default { backend: 'file', fsync: 'batch' } */
  log?: LogConfig;
  /** Stream name prefix. @default 'ipvm' */
  namespace?: string;
  /** Tasks executed at once. @default 16 */
  concurrency?: number;
  /**
   * On a cluster, how long a workflow's owner waits for bids on an offer before deciding
   * (it decides sooner once every live node answered). @default 500
   */
  bidWindowMs?: number;
  /**
   * Run components whose core needs no glue without jco's generated bindings. `false` sends
   * every component through jco (measured against in the cold-start benchmark). @default true
   */
  glueFree?: boolean;
  /** Written as `executor` on receipts. @default the authority's DID */
  nodeId?: string;
  /**
   * Authority from the data directory's identity (`open` by default: receipts signed). `false`
   * runs without one: unsigned receipts, nothing checked (benchmarks of the bare engine).
   */
  auth?: AuthConfig | false;
  /** An authority opened already (e.g. to refuse a workflow before the node opens). */
  authority?: Authority;
  /** `HOST[:PORT],…` effects may reach (see `processors/effects/`). */
  allowNet?: string;
  /** Nodes to fetch content from over libp2p/bitswap. */
  peers?: string[];
  /** Where the content exchange listens (on by default on a broker or with `peers`). */
  p2pListen?: string;
  workflowTimeoutMs?: number;
  awaitTimeoutMs?: number;
  /** Live tables, indexed as receipts are written. */
  tables?: TablesConfig;
  /** Prometheus metrics of the node (served on the API's `/metrics` when there is an API). */
  metrics?: boolean;
  /** Serve the API (implies metrics). */
  api?: ApiConfig;
  /** Fire the schedules of `ipvm cron` (several nodes on one log fire each tick once). */
  schedules?: boolean;
  /** Where services log (API, tables, console, schedules). */
  logger?: Logger;
  onProgress?: (event: NodeProgress) => void;
}

/** A configuration that cannot work (bad usage: the CLI exits 2). */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly usage = true;
  readonly retryable = false;
}
