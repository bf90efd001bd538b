/**
 * The optional services of an opened node: metrics (created before the engine, which reports
 * to them), the live table indexer, and the API (JSON-RPC/WebSocket, `/metrics`, the face
 * methods the CLI and client use, the console). Each loads only when asked for.
 *
 * @module
 */
import type { CommitStats, Log } from '../../streams/log.ts';
import type { ContentStore } from '../content/index.ts';
import type { IpvmNode, NodeProgress } from '../engine/types.ts';
import type { Authority } from '../auth/types.ts';
import type { ReceiptCheck } from '../auth/verify-receipt.ts';
import type { ConsumerLag, NodeMetrics } from '../metrics.ts';
import type { TableStore } from '../tables/table-store.ts';
import type { ApiServer } from '../api/index.ts';
import { silentLogger, type Logger } from '../logger.ts';
import type { TaskRunner } from '../engine/execute-tasks.ts';
import type { NodeConfig } from './config.ts';
import { openReceiptCheck } from './open-authority.ts';

/** What the services add to an opened node. */
export interface Services {
  /** The node's metrics (with `metrics` or `api`). */
  metrics?: NodeMetrics;
  /** The tables indexed live (with `tables`). */
  tables?: TableStore;
  /** Resolves once the live tables hold what the log held when it was called (with `tables`). */
  tablesCaughtUp?: (options?: { signal?: AbortSignal }) => Promise<void>;
  /** The API server (with `api`): `url` (WebSocket) and `httpUrl`. */
  api?: ApiServer;
}

/** What the services need of the node. */
interface Opened extends Services {
  node: IpvmNode;
  runner: TaskRunner;
  log: Log;
  dataDir: string;
  content: ContentStore;
  authority: Authority | undefined;
}

/** Services in two steps: metrics before the engine opens, the rest after. */
export interface ServicesStage {
  /** The engine's progress feed (metrics, the console's retry marks). */
  onProgress(event: NodeProgress): void;
  /** Starts tables and API for `opened` (fields set on it); returns what closes them. */
  start(opened: Opened): Promise<() => Promise<void>>;
}

/** Prepares the services `config` asks for. */
export async function prepareServices(config: NodeConfig): Promise<ServicesStage> {
  const wantsMetrics = config.metrics === true || config.api !== undefined;
  // prom-client and what it imports (~90 modules) only for a node that reports metrics: not
  // for `ipvm run`, `status` or `replay`.
  const metricsModule = wantsMetrics ? await import('../metrics.ts') : undefined;
  let lag: (() => Promise<ConsumerLag>) | undefined;
  let commits: (() => CommitStats | undefined) | undefined;
  const metrics = metricsModule?.createNodeMetrics({
    processMetrics: true,
    // Cheap on the embedded log only (see consumerLag).
    lag: async () => (lag === undefined ? [] : [await lag()]),
    // The file log's group commits (the brokers batch on their side).
    ...((config.log?.backend ?? 'file') === 'file' ? { commits: () => commits?.() } : {}),
  });
  let noteRetry: ((instruction: string) => void) | undefined;
  const logger = config.logger;
  return {
    onProgress(e) {
      metrics?.onProgress(e);
      if (e.type === 'execute:retry') noteRetry?.(e.instruction);
    },
    async start(opened) {
      const { node, log } = opened;
      const closers: Array<() => Promise<void> | void> = [];
      const close = async (): Promise<void> => {
        for (const c of closers.reverse()) await c();
      };
      try {
        if (metrics !== undefined && metricsModule !== undefined) {
          opened.metrics = metrics;
          commits = () => log.commitStats?.();
          const { consumerLag } = metricsModule;
          if ((config.log?.backend ?? 'file') === 'file')
            lag = () =>
              consumerLag(log, 'executor', node.topology.name('invocations'), { cap: 10_000 });
          closers.push(metrics.attach(node));
        }
        const verify =
          opened.authority?.receiptCheck ??
          (config.auth === false
            ? undefined
            : await openReceiptCheck(config.auth ?? {}, opened.dataDir));
        if (config.tables !== undefined) {
          const live = await indexLive(
            opened,
            config.tables.clickhouseUrl,
            config.log?.backend,
            verify,
            logger,
          );
          opened.tables = live.store;
          opened.tablesCaughtUp = live.caughtUp;
          closers.push(live.close);
        }
        if (config.api !== undefined) {
          const api = await serveApi(opened, config, metrics!, verify, (f) => (noteRetry = f));
          opened.api = api.server;
          closers.push(api.close);
        }
        if (config.schedules === true) {
          const { startFirer } = await import('./open-firer.ts');
          const firer = await startFirer(
            opened,
            (logger ?? silentLogger()).child({ component: 'schedules' }),
            () => opened.tables,
          );
          closers.push(() => firer.close());
        }
      } catch (err) {
        await close();
        throw err;
      }
      return close;
    },
  };
}

/** The live table indexer over the node's receipt streams. */
async function indexLive(
  opened: Opened,
  clickhouseUrl: string | undefined,
  backend: string | undefined,
  verify: ReceiptCheck | undefined,
  logger: Logger | undefined,
): Promise<{
  store: TableStore;
  caughtUp: (options?: { signal?: AbortSignal }) => Promise<void>;
  close: () => Promise<void>;
}> {
  const tables = await import('../tables/index.ts');
  const indexer = await import('../index-tables.ts');
  const store = tables.openTableStore({ clickhouseUrl, dataDir: opened.dataDir });
  await store.migrate();
  const live = indexer.indexTables({
    log: opened.log,
    store,
    consumer: tables.tablesConsumer(store, { backend, dataDir: opened.dataDir }),
    streams: indexer.tableStreams(opened.node.topology),
    verify,
    onProgress: (e) => {
      // A receipt that failed verification never becomes a row; say which and why.
      if (e.type === 'tables:refused') logger?.warn(e, 'receipt refused by the tables');
    },
  });
  const running = live.run().catch((err: unknown) => {
    logger?.error({ err }, 'table indexer stopped');
  });
  logger?.info({ store: store.kind }, 'indexing tables');
  return {
    store,
    caughtUp: (options) => live.caughtUp(options),
    close: async () => {
      await live.close();
      await running;
      await store.close();
    },
  };
}

/**
 * The tables of a node that does not index them, opened when a query first asks and brought
 * up to date from the node's log before each query.
 */
async function openTablesOnDemand(
  opened: Opened,
  clickhouseUrl: string | undefined,
  backend: string | undefined,
  verify: ReceiptCheck | undefined,
): Promise<{ store: TableStore; catchUp: () => Promise<void> }> {
  const tables = await import('../tables/index.ts');
  const indexer = await import('../index-tables.ts');
  const store = tables.openTableStore({ clickhouseUrl, dataDir: opened.dataDir });
  await store.migrate();
  const streams = indexer.tableStreams(opened.node.topology);
  const consumer = tables.tablesConsumer(store, { backend, dataDir: opened.dataDir });
  return {
    store,
    catchUp: async () => {
      await tables.catchUpTables({ log: opened.log, store, streams, verify, consumer });
    },
  };
}

/** The API with the face methods and the console. */
async function serveApi(
  opened: Opened,
  config: NodeConfig,
  metrics: NodeMetrics,
  verify: ReceiptCheck | undefined,
  onRetry: (noteRetry: (instruction: string) => void) => void,
): Promise<{ server: ApiServer; close: () => Promise<void> }> {
  const api = config.api!;
  const { node, log } = opened;
  const logger = config.logger;
  const [{ createApiServer }, { createFaceMethods }, { faceInit }, consoleApi] = await Promise.all([
    import('../api/index.ts'),
    import('../api/face.ts'),
    import('../api/face-server.ts'),
    import('../api/console.ts'),
  ]);
  const face = faceInit({
    opened,
    tables: opened.tables,
    tablesCaughtUp: opened.tablesCaughtUp,
    openTables: () =>
      openTablesOnDemand(opened, config.tables?.clickhouseUrl, config.log?.backend, verify),
  });
  const consoleModel = consoleApi.createConsoleModel({
    log,
    topology: node.topology,
    memo: node.memo,
    onError: (err) => logger?.error({ err }, 'console read model stopped'),
  });
  onRetry((instruction) => consoleModel.noteRetry(instruction));
  // The API does not wait for the console to fold a long log: it shows what it has.
  consoleModel
    .ready()
    .then(() => logger?.info({}, 'console caught up with the streams'))
    .catch(() => undefined);
  const { consumerLag } = await import('../metrics.ts');
  const lag = async () =>
    (config.log?.backend ?? 'file') === 'file'
      ? [await consumerLag(log, 'executor', node.topology.name('invocations'), { cap: 10_000 })]
      : [];
  const apiLogger = logger?.child({ component: 'api' });
  let server: ApiServer;
  try {
    server = await createApiServer({
      extensions: [
        createFaceMethods({
          ...face,
          onReplayedFromMemo: (n) => metrics.onReplayedFromMemo(n),
          logger: apiLogger,
        }),
        consoleApi.createConsoleRpc({
          node,
          model: consoleModel,
          actions: api.consoleActions === true,
          lag,
          concurrency: config.concurrency ?? 16,
          tables: opened.tables,
        }),
      ],
      node,
      metrics,
      consoleFiles: await consoleApi.loadConsoleFiles(),
      host: api.host,
      port: api.port,
      allowedHosts: api.allowedHosts,
      allowedOrigins: api.allowedOrigins,
      p2p: opened.content.network,
      logger: apiLogger,
      health: async ({ signal }) => {
        await log.partitions(node.topology.name('invocations'), { signal });
        return true;
      },
    });
  } catch (err) {
    await face.close();
    await consoleModel.close();
    throw err;
  }
  return {
    server,
    close: async () => {
      await server.close();
      await face.close();
      await consoleModel.close();
    },
  };
}
