// Opens what a node needs from the command line's flags and environment: the log (file,
// Kafka or JetStream), the content store, the Wasm executor and the node itself.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Log } from '../streams/log.ts';
import { createFileLog } from '../streams/file/index.ts';
import { resolveDataDir, type ContentStore } from '../processors/content/index.ts';
import type { IpvmNode, NodeInit, NodeProgress } from '../processors/engine/node.ts';
import type { TaskRunner } from '../processors/engine/execute-tasks.ts';
import { createTopology, type Topology } from '../streams/topology.ts';
import { countingRunner } from '../processors/cluster/load.ts';
import type { AuthMode, Authority } from '../processors/auth/types.ts';
import type { ReceiptCheck } from '../processors/auth/verify-receipt.ts';
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
      '--allow-net <hosts>',
      'HOST[:PORT],… that effects (http/*) may reach; private and loopback addresses only when named (env IPVM_ALLOW_NET)',
    );
}

/** A node with everything it opened, closed in reverse order. */
export interface OpenNode extends AsyncDisposable {
  node: IpvmNode;
  /** The node's task runner (with optimistic verification), for replay jobs. */
  runner: TaskRunner;
  log: Log;
  dataDir: string;
  /** The content store (with its content exchange on a cluster or with `--peer`). */
  content: ContentStore;
  /** The node's identity and rules (its `receiptCheck` verifies receipts for the tables). */
  authority: Authority;
  stats(): { executed: number; replayed: number };
}

async function openLog(flags: NodeFlags, dataDir: string, readOnly = false): Promise<Log> {
  switch (flags.backend ?? 'file') {
    case 'file': {
      // Readers (watch, status, graph) never take the writer lock: a node may be running.
      if (readOnly) return createFileLog({ dir: join(dataDir, 'log'), readOnly: true });
      const fsync =
        flags.fsync === undefined || flags.fsync === 'batch'
          ? 'batch'
          : flags.fsync === 'none'
            ? 'none'
            : { intervalMs: Number(flags.fsync) };
      return createFileLog({ dir: join(dataDir, 'log'), fsync });
    }
    case 'kafka': {
      if (flags.brokers === undefined)
        throw new UsageError('--backend kafka needs --brokers or KAFKA_BROKERS');
      const { createKafkaLog } = await import('../streams/kafka/index.ts');
      return createKafkaLog({ brokers: flags.brokers.split(',') });
    }
    case 'nats': {
      if (flags.natsUrl === undefined)
        throw new UsageError('--backend nats needs --nats-url or NATS_URL');
      const { createJetStreamLog } = await import('../streams/jetstream/index.ts');
      return createJetStreamLog({ servers: flags.natsUrl });
    }
    default:
      throw new UsageError(`--backend must be file, kafka or nats (got ${flags.backend})`);
  }
}

/** The data directory has no log to read (bad input: exit 1). */
export class NoLogError extends Error {
  override name = 'NoLogError';
  readonly retryable = false;
}

/** A log opened for reading only, with the node's stream names. */
export interface ReadLog extends AsyncDisposable {
  log: Log;
  topology: Topology;
  dataDir: string;
}

/**
 * Opens the log for reading (the file log without its writer lock, so a running node is not
 * disturbed).
 */
export async function openReadLog(flags: NodeFlags): Promise<ReadLog> {
  const dataDir = resolveDataDir(flags.dataDir);
  if ((flags.backend ?? 'file') === 'file' && !existsSync(join(dataDir, 'log'))) {
    throw new NoLogError(
      `no log in ${dataDir}: nothing has run with this data directory (check --data-dir / IPVM_DATA_DIR)`,
    );
  }
  const log = await openLog(flags, dataDir, true);
  return {
    log,
    topology: createTopology({ namespace: flags.namespace ?? 'ipvm' }),
    dataDir,
    [Symbol.asyncDispose]: () => log.close(),
  };
}

/** Opens the log for writing (takes the file log's writer lock), with the node's stream names. */
export async function openWriteLog(flags: NodeFlags): Promise<ReadLog> {
  const dataDir = resolveDataDir(flags.dataDir);
  const log = await openLog(flags, dataDir, false);
  return {
    log,
    topology: createTopology({ namespace: flags.namespace ?? 'ipvm' }),
    dataDir,
    [Symbol.asyncDispose]: () => log.close(),
  };
}

function authModeOf(flags: NodeFlags): AuthMode {
  const mode = flags.auth ?? 'open';
  if (mode !== 'open' && mode !== 'ucan')
    throw new UsageError(`--auth must be open or ucan (got ${mode})`);
  return mode;
}

async function trustOf(flags: NodeFlags): Promise<string[]> {
  const { publicKeyOfDid } = await import('../processors/auth/ed25519.ts');
  const trust = (flags.trust ?? '')
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d !== '');
  for (const did of trust) {
    try {
      publicKeyOfDid(did);
    } catch (err) {
      throw new UsageError(`--trust: ${(err as Error).message}`);
    }
  }
  return trust;
}

/**
 * The rules receipts are verified by before they enter the tables, from `--auth`, `--trust`
 * and the data directory's key, without loading the UCAN libraries.
 */
export async function openReceiptCheck(flags: NodeFlags, dataDir: string): Promise<ReceiptCheck> {
  const mode = authModeOf(flags);
  const { loadIdentity } = await import('../processors/auth/identity.ts');
  return { mode, trusted: [loadIdentity(dataDir).did, ...(await trustOf(flags))] };
}

/** The node's authority from `--auth`, `--trust` and the data directory's key. */
export async function openAuthority(flags: NodeFlags, dataDir: string): Promise<Authority> {
  const mode = authModeOf(flags);
  // Light modules only: the UCAN libraries are imported in ucan mode alone.
  const [{ createAuthority, loadCheckers, readRevoked }, { loadIdentity }] = await Promise.all([
    import('../processors/auth/authority.ts'),
    import('../processors/auth/identity.ts'),
  ]);
  const trust = await trustOf(flags);
  return createAuthority({
    identity: loadIdentity(dataDir),
    mode,
    trust,
    revoked: readRevoked(dataDir),
    checkers: mode === 'ucan' ? await loadCheckers() : [],
  });
}

/** Opens a node from flags. */
export async function openNode(
  flags: NodeFlags,
  onProgress?: (e: NodeProgress) => void,
  extra: Pick<NodeInit, 'workflowTimeoutMs' | 'awaitTimeoutMs'> = {},
  /** The authority, when the caller opened it first (e.g. to refuse before starting). */
  openedAuthority?: Authority,
): Promise<OpenNode> {
  const concurrency = Number(flags.concurrency ?? 16);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new UsageError(`--concurrency must be a positive integer (got ${flags.concurrency})`);
  // The engine, content store and Wasm runtime load on use, so read-only commands start fast.
  const [
    { createHeliaContentStore },
    { createExecutor },
    { wasmRunner },
    { createNode },
    fx,
    { verifyingRunner },
    { mismatchRecorder },
  ] = await Promise.all([
    import('../processors/content/index.ts'),
    import('../processors/wasm/index.ts'),
    import('../processors/wasm-runner.ts'),
    import('../processors/engine/node.ts'),
    import('../processors/effects/index.ts'),
    import('../processors/verify/optimistic.ts'),
    import('../processors/verify/record.ts'),
  ]);
  let allow;
  try {
    allow = fx.parseAllowList(flags.allowNet);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const effects = fx.createEffectRunner({ http: fx.createHttpClient({ allow }) });
  const dataDir = resolveDataDir(flags.dataDir);
  const authority = openedAuthority ?? (await openAuthority(flags, dataDir));
  const log = await openLog(flags, dataDir);
  const clustered = (flags.backend ?? 'file') !== 'file';
  const networked = clustered || (flags.peer ?? []).length > 0 || flags.p2pListen !== undefined;
  const content = await createHeliaContentStore({
    dataDir,
    network: networked
      ? {
          listen: flags.p2pListen === undefined ? undefined : [flags.p2pListen],
          peers: flags.peer,
          onError: (error) => onProgress?.({ type: 'node:error', error }),
        }
      : undefined,
  });
  const executor = createExecutor({ content, cacheDir: join(dataDir, 'cache') });
  let executed = 0;
  let replayed = 0;
  const progress = (e: NodeProgress): void => {
    if (e.type === 'execute:ran') executed++;
    if (e.type === 'execute:hit') replayed++;
    onProgress?.(e);
  };
  const namespace = flags.namespace ?? 'ipvm';
  const topology = createTopology({ namespace });
  // The node's DID is its id: written as `executor`, reported by the API's `node` method.
  const nodeId = authority.did;
  // Tasks asking for optimistic confirmations run N times; disagreements go on `verification`.
  const recorder = mismatchRecorder(log, topology.name('verification'), (error) =>
    onProgress?.({ type: 'node:error', error }),
  );
  const runner = verifyingRunner({
    runner: wasmRunner(executor),
    nodeId,
    onMismatch: recorder.record,
  });
  const [{ createSecretStore }, { createTaintTracker }, { routeTainted, withSecrets }] =
    await Promise.all([
      import('../processors/auth/secrets.ts'),
      import('../processors/auth/taint.ts'),
      import('../processors/auth/local-node.ts'),
    ]);
  const secrets = createSecretStore({ dataDir });
  // On a broker, nodes of one namespace form a cluster: they heartbeat on its `nodes` stream
  // and each workflow is scheduled by one of them.
  const counted = countingRunner(runner);
  const cluster = !clustered
    ? undefined
    : await (
        await import('../processors/cluster/index.ts')
      ).joinCluster({
        log,
        namespace,
        nodeId,
        announce: () => ({
          peerId: content.network?.peerId,
          addrs: content.network?.multiaddrs() ?? [],
          load: { running: counted.running(), concurrency },
          modules: executor.stats().compilations,
          capabilities: {
            effectHosts: (flags.allowNet ?? '').split(',').filter((h) => h !== ''),
            secrets: secrets.names(),
          },
          lag: null,
        }),
        onError: (error) => onProgress?.({ type: 'node:error', error }),
      });
  // Peers announced on the membership stream serve content too.
  const dialPeers = (): void => {
    const connected = content.network?.connections() ?? {};
    for (const peer of cluster?.peers() ?? []) {
      if (peer.peerId === undefined || peer.peerId in connected || peer.addrs[0] === undefined)
        continue;
      content.network
        ?.dial(peer.addrs[0])
        .catch((error: unknown) => onProgress?.({ type: 'node:error', error }));
    }
  };
  dialPeers();
  cluster?.onChange(dialPeers);
  const shared = await createNode({
    log,
    runner: counted.runner,
    effects,
    topology,
    nodeId,
    cluster,
    concurrency,
    ...extra,
    authority,
    onProgress: progress,
  });
  // Secret-tainted workflows run on a node-local log that never leaves this data directory.
  const localLog = createFileLog({ dir: join(dataDir, 'local', 'log') });
  const local = await createNode({
    log: localLog,
    runner: withSecrets(wasmRunner(executor), secrets),
    topology: { namespace: 'local' },
    concurrency,
    ...extra,
    authority,
    nodeId,
    onProgress: progress,
  });
  const node = routeTainted({ shared, local, taint: createTaintTracker(secrets) });
  return {
    node,
    runner,
    log,
    dataDir,
    content,
    authority,
    stats: () => ({ executed, replayed }),
    async [Symbol.asyncDispose]() {
      await node.close();
      await recorder.drain();
      await cluster?.close();
      await effects.close();
      await executor.close();
      await content.close();
      await localLog.close();
      await log.close();
    },
  };
}

/** A task runner without a node (re-execution by replay jobs), with what it opened. */
export interface OpenRunner extends AsyncDisposable {
  runner: TaskRunner;
}

/** Opens the content store and Wasm executor of the data directory as a task runner. */
export async function openRunner(flags: NodeFlags): Promise<OpenRunner> {
  const [{ createHeliaContentStore }, { createExecutor }, { wasmRunner }] = await Promise.all([
    import('../processors/content/index.ts'),
    import('../processors/wasm/index.ts'),
    import('../processors/wasm-runner.ts'),
  ]);
  const dataDir = resolveDataDir(flags.dataDir);
  const content = await createHeliaContentStore({ dataDir });
  const executor = createExecutor({ content, cacheDir: join(dataDir, 'cache') });
  return {
    runner: wasmRunner(executor),
    async [Symbol.asyncDispose]() {
      await executor.close();
      await content.close();
    },
  };
}
