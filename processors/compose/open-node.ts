/**
 * The composition root: builds a node from a {@link NodeConfig} — its log, content store
 * (with the content exchange on a cluster), Wasm executor, effect runner, authority, cluster
 * membership, the node-local engine of secret-tainted workflows, and, as options, the live
 * tables, metrics and the API. `ipvm run`, `ipvm start`, `ipvm call`, the benchmarks' node
 * child and embedding programs all open their node here; heavy modules load on use.
 *
 * @module
 */
import { join } from 'node:path';
import type { Log } from '../../streams/log.ts';
import { createFileLog } from '../../streams/file/index.ts';
import { resolveDataDir, type ContentStore } from '../content/index.ts';
import type { IpvmNode, NodeProgress } from '../engine/types.ts';
import type { TaskRunner } from '../engine/execute-tasks.ts';
import { CID } from 'multiformats/cid';
import { countingRunner } from '../cluster/load.ts';
import { createCostHistory } from '../cluster/cost-history.ts';
import { createLocalPlacement } from '../cluster/local-placement.ts';
import { createFileResumeStore } from '../cluster/resume-point.ts';
import type { NodeCapabilities } from '../cluster/bid.ts';
import type { Authority } from '../auth/types.ts';
import { ConfigError, type NodeConfig } from './config.ts';
import { openLog, topologyFor } from './open-log.ts';
import { openAuthority } from './open-authority.ts';
import { prepareServices, type Services } from './open-services.ts';

/** A node with everything it opened, closed in reverse order. */
export interface OpenNode extends AsyncDisposable, Services {
  node: IpvmNode;
  /** The node's task runner (with optimistic verification), for replay jobs. */
  runner: TaskRunner;
  log: Log;
  dataDir: string;
  /** The content store (with its content exchange on a cluster or with `peers`). */
  content: ContentStore;
  /** The node's identity and rules; absent with `auth: false`. */
  authority: Authority | undefined;
  /**
   * Tasks executed here and receipts replayed from the memo since the node opened; `local`:
   * whether the node-local engine (secret-tainted workflows) is open — it opens on the first
   * tainted submission, or at start when a tainted workflow has not ended.
   */
  stats(): { executed: number; replayed: number; local: boolean };
}

/** Opens a node (and the services `config` asks for); it is processing when this resolves. */
export async function openNode(config: NodeConfig = {}): Promise<OpenNode> {
  const concurrency = config.concurrency ?? 16;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new ConfigError(`--concurrency must be a positive integer (got ${concurrency})`);
  const { bidWindowMs } = config;
  if (bidWindowMs !== undefined && (!Number.isInteger(bidWindowMs) || bidWindowMs < 1))
    throw new ConfigError(`--bid-window must be a positive integer of ms (got ${bidWindowMs})`);
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
    import('../content/index.ts'),
    import('../wasm/index.ts'),
    import('../wasm-runner.ts'),
    import('../engine/node.ts'),
    import('../effects/index.ts'),
    import('../verify/optimistic.ts'),
    import('../verify/record.ts'),
  ]);
  let allow;
  try {
    allow = fx.parseAllowList(config.allowNet);
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  const dataDir = resolveDataDir(config.dataDir);
  const authority =
    config.authority ??
    (config.auth === false ? undefined : await openAuthority(config.auth ?? {}, dataDir));
  const http = fx.createHttpClient({ allow });
  const effects = fx.createEffectRunner({ http });
  const log = await openLog(config.log, dataDir, false, config.namespace);
  const clustered = (config.log?.backend ?? 'file') !== 'file';
  const peers = config.peers ?? [];
  const networked = clustered || peers.length > 0 || config.p2pListen !== undefined;
  const reportError = (error: unknown): void => config.onProgress?.({ type: 'node:error', error });
  const content = await createHeliaContentStore({
    dataDir,
    network: networked
      ? {
          listen: config.p2pListen === undefined ? undefined : [config.p2pListen],
          peers,
          onError: reportError,
        }
      : undefined,
  });
  const executor = createExecutor({
    content,
    cacheDir: join(dataDir, 'cache'),
    glueFree: config.glueFree,
  });
  const namespace = config.namespace ?? 'ipvm';
  const topology = await topologyFor(log, config.log?.backend ?? 'file', namespace);
  const services = await prepareServices(config);
  let executed = 0;
  let replayed = 0;
  const progress = (e: NodeProgress): void => {
    if (e.type === 'execute:ran') executed++;
    if (e.type === 'execute:hit') replayed++;
    services.onProgress(e);
    config.onProgress?.(e);
  };
  // The node's DID is its id: written as `executor`, reported by the API's `node` method.
  const nodeId = config.nodeId ?? authority?.did ?? 'anonymous';
  // Tasks asking for optimistic confirmations run N times; disagreements go on `verification`.
  const recorder = mismatchRecorder(log, topology.name('verification'), reportError);
  const runner = verifyingRunner({
    runner: wasmRunner(executor),
    nodeId,
    onMismatch: recorder.record,
  });
  const [
    { createSecretStore },
    { createTaintTracker },
    { lazyLocalEngine, routeTainted, screenFollowUps, withSecrets },
    { openTaintLedger },
  ] = await Promise.all([
    import('../auth/secrets.ts'),
    import('../auth/taint.ts'),
    import('../auth/local-node.ts'),
    import('../auth/taint-ledger.ts'),
  ]);
  const secrets = createSecretStore({ dataDir });
  // On a broker, nodes of one namespace form a cluster: they heartbeat on its `nodes` stream
  // and each workflow is scheduled by one of them.
  const counted = countingRunner(runner);
  const history = createCostHistory();
  const effectHosts = (config.allowNet ?? '').split(',').filter((h) => h !== '');
  // `lag` in the heartbeats: the last measure of `behind()`, measured again for the next one.
  let lag: number | null = null;
  let measuring = false;
  const measured: { node?: { behind(): Promise<number> } } = {};
  const lagNow = (): number | null => {
    if (measured.node !== undefined && !measuring) {
      measuring = true;
      measured.node
        .behind()
        .then(
          (n) => (lag = n),
          () => (lag = null),
        )
        .finally(() => (measuring = false));
    }
    return lag;
  };
  const cluster = !clustered
    ? undefined
    : await (
        await import('../cluster/index.ts')
      ).joinCluster({
        log,
        namespace,
        nodeId,
        announce: () => ({
          peerId: content.network?.peerId,
          addrs: content.network?.multiaddrs() ?? [],
          load: { running: counted.running(), concurrency },
          modules: executor.stats().compilations,
          compiled: history.modules(),
          capabilities: { effectHosts, secrets: secrets.names() },
          lag: lagNow(),
        }),
        onError: reportError,
      });
  // Peers announced on the membership stream serve content too.
  const dialPeers = (): void => {
    const connected = content.network?.connections() ?? {};
    for (const peer of cluster?.peers() ?? []) {
      if (peer.peerId === undefined || peer.peerId in connected || peer.addrs[0] === undefined)
        continue;
      content.network?.dial(peer.addrs[0]).catch(reportError);
    }
  };
  dialPeers();
  cluster?.onChange(dialPeers);
  // Placement of tasks naming `meta.node` / `meta.needs`: offers and bids on a cluster, a
  // local check on a node alone.
  const capabilities = (): NodeCapabilities => ({ nodeId, effectHosts, secrets: secrets.names() });
  const placement =
    cluster === undefined
      ? createLocalPlacement(capabilities)
      : await (
          await import('../cluster/matchmaker.ts')
        ).createMatchmaker({
          log,
          namespace,
          membership: cluster,
          capabilities,
          history,
          load: () => ({ running: counted.running(), concurrency }),
          hasData: async (cid) => content.has(CID.parse(cid)),
          bidWindowMs: config.bidWindowMs,
          resume: createFileResumeStore(join(dataDir, 'cluster', `offers-${namespace}.json`)),
          onError: reportError,
        });
  const timeouts = {
    workflowTimeoutMs: config.workflowTimeoutMs,
    awaitTimeoutMs: config.awaitTimeoutMs,
  };
  const shared = await createNode({
    log,
    runner: counted.runner,
    effects,
    topology,
    nodeId,
    cluster,
    placement,
    concurrency,
    ...timeouts,
    authority,
    spillDir: join(dataDir, 'cache'),
    onProgress: progress,
  });
  measured.node = shared;
  // Measured at once, so that the next heartbeat carries a lag rather than "unknown" (the
  // heartbeats before the node existed could not).
  if (cluster !== undefined) lagNow();
  // Secret-tainted workflows run on a node-local log that never leaves this data directory,
  // with an engine opened on the first one (or at start, when one has not ended).
  let localLog: Log | undefined;
  const ledger = openTaintLedger(join(dataDir, 'local', 'taint.jsonl'));
  const taint = createTaintTracker(secrets, ledger.tainted);
  const local = lazyLocalEngine(async () => {
    localLog = createFileLog({ dir: join(dataDir, 'local', 'log') });
    const localTopology = await topologyFor(localLog, 'file', 'local');
    return createNode({
      log: localLog,
      runner: withSecrets(wasmRunner(executor), secrets),
      // The same connections and allow-list; secrets resolved at the moment of a request.
      effects: fx.createEffectRunner({ http, secrets: (name) => secrets.get(name) }),
      // A tainted result's `fx` inherits its taint: hosts checked as for a submission.
      screenFollowUp: screenFollowUps(taint, ledger),
      topology: localTopology,
      // Tainted workflows never leave this node: placed tasks must name it or be served by it.
      placement: createLocalPlacement(capabilities),
      concurrency,
      ...timeouts,
      authority,
      nodeId,
      spillDir: join(dataDir, 'local', 'cache'),
      onProgress: progress,
    });
  });
  const node = await routeTainted({ shared, local, taint, ledger });
  const opened: OpenNode = {
    node,
    runner,
    log,
    dataDir,
    content,
    authority,
    stats: () => ({ executed, replayed, local: local.opened() !== undefined }),
    async [Symbol.asyncDispose]() {
      await closeServices();
      await node.close();
      await recorder.drain();
      await (placement as Partial<AsyncDisposable>)[Symbol.asyncDispose]?.();
      await cluster?.close();
      await effects.close();
      await executor.close();
      await content.close();
      await localLog?.close();
      await log.close();
    },
  };
  let closeServices: () => Promise<void> = () => Promise.resolve();
  try {
    closeServices = await services.start(opened);
  } catch (err) {
    await opened[Symbol.asyncDispose]();
    throw err;
  }
  return opened;
}
