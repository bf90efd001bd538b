// The node flags shared by the commands, and their translation into the composition root's
// configuration (processors/compose/): the CLI describes a node; the root builds it.
import type { Command } from 'commander';
import type { AuthConfig, LogConfig, NodeConfig } from '../processors/compose/index.ts';
import type { LogPlace } from '../processors/compose/open-log.ts';
import { UsageError } from './exit.ts';

/** Flags shared by the commands that run a node. */
export interface NodeFlags {
  dataDir?: string;
  backend?: string;
  brokers?: string;
  natsUrl?: string;
  namespace?: string;
  concurrency?: string;
  fsync?: string;
  /** Smallest string or bytes value stored once as a block. */
  largeValue?: string;
  /** `open` or `ucan`. */
  auth?: string;
  /** Root DIDs trusted to delegate, comma-separated. */
  trust?: string;
  /** `HOST[:PORT],…` effects may reach. */
  allowNet?: string;
  peer?: string[];
  p2pListen?: string;
}

/** Adds the flags that choose the streams (shared by every command that reads the log). */
export function logOptions(command: Command): Command {
  return command
    .option('--data-dir <dir>', 'data directory (env IPVM_DATA_DIR)', undefined)
    .option('--backend <file|kafka|nats>', 'stream backend (env IPVM_BACKEND)', 'file')
    .option('--brokers <list>', 'Kafka brokers, comma-separated (env KAFKA_BROKERS)')
    .option('--nats-url <url>', 'NATS server (env NATS_URL)')
    .option('--namespace <name>', 'stream name prefix (env IPVM_NAMESPACE)', 'ipvm');
}

/** Adds `--auth` and `--trust` (also to commands that index receipts into the tables). */
export function authOptions(command: Command): Command {
  return command
    .option(
      '--auth <open|ucan>',
      'open: anyone who reaches the node runs anything; ucan: every task needs a UCAN proof (env IPVM_AUTH)',
      'open',
    )
    .option(
      '--trust <dids>',
      'root DIDs allowed to delegate, comma-separated; the node itself always is (env IPVM_TRUST)',
    );
}

/** Adds the shared node flags to a command. */
export function nodeOptions(command: Command): Command {
  return authOptions(logOptions(command))
    .option('--concurrency <n>', 'tasks executed at once (env IPVM_CONCURRENCY)', '16')
    .option(
      '--peer <multiaddr>',
      'a node to fetch content from over libp2p/bitswap (repeatable; /ip4/…/tcp/…/p2p/<peer id>)',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option(
      '--p2p-listen <multiaddr>',
      'where the content exchange listens (on by default with --backend kafka|nats or --peer)',
    )
    .option(
      '--fsync <batch|none|MS>',
      'file log fsync policy: per batch, never, or every MS ms (env IPVM_FSYNC)',
      'batch',
    )
    .option(
      '--large-value <bytes>',
      'strings and bytes values of at least this size are stored once, as blocks on the blocks stream (env IPVM_LARGE_VALUE_BYTES)',
      '65536',
    )
    .option(
      '--allow-net <hosts>',
      'HOST[:PORT],… that effects (http/*) may reach; private and loopback addresses only when named (env IPVM_ALLOW_NET)',
    );
}

/** The streams the flags name: `--backend`, `--brokers`, `--nats-url`, `--fsync`, `--large-value`. */
export function logConfig(flags: NodeFlags): LogConfig {
  const largeValueBytes =
    flags.largeValue === undefined ? undefined : positive(flags.largeValue, '--large-value');
  return { ...backendConfig(flags), ...(largeValueBytes === undefined ? {} : { largeValueBytes }) };
}

function backendConfig(flags: NodeFlags): LogConfig {
  switch (flags.backend ?? 'file') {
    case 'file':
      return {
        backend: 'file',
        fsync:
          flags.fsync === undefined || flags.fsync === 'batch'
            ? 'batch'
            : flags.fsync === 'none'
              ? 'none'
              : { intervalMs: positive(flags.fsync, '--fsync') },
      };
    case 'kafka':
      if (flags.brokers === undefined)
        throw new UsageError('--backend kafka needs --brokers or KAFKA_BROKERS');
      return { backend: 'kafka', brokers: flags.brokers.split(',') };
    case 'nats':
      if (flags.natsUrl === undefined)
        throw new UsageError('--backend nats needs --nats-url or NATS_URL');
      return { backend: 'nats', servers: flags.natsUrl };
    default:
      throw new UsageError(`--backend must be file, kafka or nats (got ${flags.backend})`);
  }
}

/** Where the log is: data directory, streams, namespace. */
export function logPlace(flags: NodeFlags): LogPlace {
  return { dataDir: flags.dataDir, log: logConfig(flags), namespace: flags.namespace };
}

/** `--auth` and `--trust`. */
export function authConfig(flags: NodeFlags): AuthConfig {
  const mode = flags.auth ?? 'open';
  if (mode !== 'open' && mode !== 'ucan')
    throw new UsageError(`--auth must be open or ucan (got ${mode})`);
  return {
    mode,
    trust: (flags.trust ?? '')
      .split(',')
      .map((d) => d.trim())
      .filter((d) => d !== ''),
  };
}

/** The node the flags describe (services such as the API are added by the command). */
export function nodeConfig(flags: NodeFlags): NodeConfig {
  return {
    ...logPlace(flags),
    concurrency: positive(flags.concurrency ?? '16', '--concurrency'),
    auth: authConfig(flags),
    allowNet: flags.allowNet,
    peers: flags.peer,
    p2pListen: flags.p2pListen,
  };
}

function positive(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`${flag} must be a positive integer (got ${value})`);
  return n;
}
