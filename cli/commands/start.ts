// `ipvm start`: a long-lived node that runs whatever producers append to `invocations`, with an
// optional JSON-RPC/WebSocket API (Homestar-compatible) and Prometheus metrics.
import type { Command } from 'commander';
import type { ApiServer } from '../../processors/api/index.ts';
import type { ConsoleModel } from '../../processors/api/console-model.ts';
import type { TableStore } from '../../processors/tables/table-store.ts';
import { DEFAULT_API_HOST, HOMESTAR_DEFAULT_PORT } from '../../processors/api/defaults.ts';
import type { ScheduleFirer } from '../../processors/schedules/index.ts';
import { UsageError } from '../exit.ts';
import { startFirer } from '../schedules.ts';
import { commandLogger, logProgress } from '../logging.ts';
import { writeDiscovery } from '../discovery.ts';
import { faceInit } from '../face-server.ts';
import { nodeOptions, openNode, type NodeFlags, type OpenNode } from '../node-context.ts';

interface StartFlags extends NodeFlags {
  rpcPort?: string;
  rpcHost: string;
  rpcAllowedHosts?: string;
  rpcAllowedOrigins?: string;
  tables?: boolean;
  clickhouseUrl?: string;
  consoleActions?: boolean;
}

export { commandLogger };

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** The API's port; a free loopback port by default, so the CLI can reach the node. */
function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return 0;
  if (value === 'off') return undefined;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new UsageError(`--rpc-port must be a port number 0-65535 or "off" (got ${value})`);
  return port;
}

export function registerStart(program: Command): void {
  const command = nodeOptions(
    program
      .command('start')
      .description('Start a long-lived node consuming the invocations stream until SIGINT/SIGTERM')
      .option(
        '--rpc-port <port>',
        `serve the JSON-RPC API (HTTP + WebSocket) and /metrics on this port; 0 picks one, off serves none (env IPVM_RPC_PORT; default 0, announced in DATA_DIR/node.json for the CLI; Homestar uses ${HOMESTAR_DEFAULT_PORT})`,
      )
      .option(
        '--rpc-host <host>',
        'address the API binds (env IPVM_RPC_HOST); anything but loopback exposes the node',
        DEFAULT_API_HOST,
      )
      .option(
        '--rpc-allowed-hosts <list>',
        'Host names the API answers besides loopback and --rpc-host, comma-separated (env IPVM_RPC_ALLOWED_HOSTS)',
      )
      .option(
        '--rpc-allowed-origins <list>',
        'browser origins allowed to call the API besides loopback ones, comma-separated (env IPVM_RPC_ALLOWED_ORIGINS)',
      )
      .option(
        '--tables',
        'keep the ClickHouse tables (memo, lineage, workflows) indexed from the streams',
      )
      .option(
        '--clickhouse-url <url>',
        'index into a ClickHouse server instead of the embedded engine (env IPVM_CLICKHOUSE_URL)',
        process.env.IPVM_CLICKHOUSE_URL,
      )
      .option(
        '--console-actions',
        'let the console (served on the API port) submit and re-run workflows; without it the console is read-only',
      ),
  );
  command
    .addHelpText(
      'after',
      `
Prints "ready" on stdout once the node processes (then "rpc ws://HOST:PORT" when the API is on).
While it runs, DATA_DIR/node.json names its API, and \`ipvm run\`, \`status\`, \`watch\`, \`sql\` and
\`call\` on the same data directory go through it. Logs are JSON lines on stderr (--log-level,
IPVM_LOG_LEVEL).
The node fires the schedules of \`ipvm cron\` (several nodes on one log fire each tick once).

Examples:
  ipvm start --data-dir /var/lib/ipvm
  ipvm start --rpc-port ${HOMESTAR_DEFAULT_PORT}              # Homestar clients connect to ws://127.0.0.1:${HOMESTAR_DEFAULT_PORT}
                                               # and the console is at http://127.0.0.1:${HOMESTAR_DEFAULT_PORT}/
  ipvm start --tables                          # then: ipvm sql "SELECT count() FROM receipts"
  ipvm start --backend kafka --brokers 127.0.0.1:9092
  ipvm start --backend nats --nats-url nats://127.0.0.1:4222
  ipvm start --backend kafka --brokers 127.0.0.1:9092 --peer /ip4/10.0.0.2/tcp/4001/p2p/12D3KooW…

On Kafka or NATS, nodes of one --namespace form a cluster: they share the tasks, heartbeat on
<namespace>.nodes (see ipvm nodes) and fetch content they lack from each other over
libp2p/bitswap (addresses announced on that stream, or given with --peer).`,
    )
    .action(async (flags: StartFlags) => {
      const rpcPort = parsePort(flags.rpcPort);
      const logger = commandLogger(command);
      const [{ consumerLag, createNodeMetrics }, { createApiServer }, { createFaceMethods }] =
        await Promise.all([
          import('../../processors/metrics.ts'),
          import('../../processors/api/index.ts'),
          import('../../processors/api/face.ts'),
        ]);
      const nodeLog = logger.child({ component: 'node' });
      let consoleModel: ConsoleModel | undefined;
      let lag: (() => ReturnType<typeof consumerLag>) | undefined;
      const metrics = createNodeMetrics({
        processMetrics: true,
        // Cheap on the embedded log only (see consumerLag).
        lag: async () => (lag === undefined ? [] : [await lag()]),
      });
      const logEvent = logProgress(nodeLog);
      const opened = await openNode(flags, (e) => {
        metrics.onProgress(e);
        logEvent(e);
        if (e.type === 'execute:retry') consoleModel?.noteRetry(e.instruction);
      });
      const { node, log } = opened;
      if ((flags.backend ?? 'file') === 'file')
        lag = () =>
          consumerLag(log, 'executor', node.topology.name('invocations'), { cap: 10_000 });
      const detach = metrics.attach(node);
      let api: ApiServer | undefined;
      let removeDiscovery: (() => void) | undefined;
      let face: ReturnType<typeof faceInit> | undefined;
      let stopTables: (() => Promise<void>) | undefined;
      let tableStore: TableStore | undefined;
      let firer: ScheduleFirer | undefined;
      try {
        if (flags.tables === true) {
          const tables = await import('../../processors/tables/index.ts');
          const indexer = await import('../../processors/index-tables.ts');
          const store = tables.openTableStore({
            clickhouseUrl: flags.clickhouseUrl,
            dataDir: opened.dataDir,
          });
          await store.migrate();
          tableStore = store;
          const live = indexer.indexTables({
            log,
            store,
            streams: indexer.tableStreams(node.topology),
            verify: opened.authority.receiptCheck,
            onProgress: (e) => {
              // A receipt that failed verification never becomes a row; say which and why.
              if (e.type === 'tables:refused') nodeLog.warn(e, 'receipt refused by the tables');
            },
          });
          const running = live.run().catch((err: unknown) => {
            nodeLog.error({ err }, 'table indexer stopped');
          });
          stopTables = async () => {
            await live.close();
            await running;
            await store.close();
          };
          nodeLog.info({ store: store.kind }, 'indexing tables');
        }
        if (rpcPort !== undefined) {
          face = faceInit({
            opened,
            tables: tableStore,
            openTables: () => openEmbeddedTables(opened, flags.clickhouseUrl),
          });
          const { createConsoleModel, createConsoleRpc, loadConsoleFiles } =
            await import('../../processors/api/console.ts');
          consoleModel = createConsoleModel({
            log,
            topology: node.topology,
            memo: node.memo,
            onError: (err) => nodeLog.error({ err }, 'console read model stopped'),
          });
          // The API does not wait for the console to fold a long log: it shows what it has.
          consoleModel
            .ready()
            .then(() => nodeLog.info({}, 'console caught up with the streams'))
            .catch(() => undefined);
          api = await createApiServer({
            extensions: [
              createFaceMethods({
                ...face,
                onReplayedFromMemo: (n) => metrics.onReplayedFromMemo(n),
                logger: logger.child({ component: 'api' }),
              }),
              createConsoleRpc({
                node,
                model: consoleModel,
                actions: flags.consoleActions === true,
                lag: async () => (lag === undefined ? [] : [await lag()]),
                concurrency: Number(flags.concurrency ?? 16),
                tables: tableStore,
              }),
            ],
            node,
            metrics,
            consoleFiles: await loadConsoleFiles(),
            host: flags.rpcHost,
            port: rpcPort,
            allowedHosts: list(flags.rpcAllowedHosts),
            allowedOrigins: list(flags.rpcAllowedOrigins),
            p2p: opened.content.network,
            logger: logger.child({ component: 'api' }),
            health: async ({ signal }) => {
              await log.partitions(node.topology.name('invocations'), { signal });
              return true;
            },
          });
          removeDiscovery = writeDiscovery(opened.dataDir, {
            url: api.url,
            httpUrl: api.httpUrl,
            pid: process.pid,
            nodeId: node.nodeId,
            startedAt: Date.now(),
          });
        }
        firer = await startFirer(
          opened,
          logger.child({ component: 'schedules' }),
          () => tableStore,
        );
        nodeLog.info(
          {
            nodeId: node.nodeId,
            backend: flags.backend ?? 'file',
            dataDir: opened.dataDir,
            peerId: opened.content.network?.peerId,
            p2p: opened.content.network?.multiaddrs(),
          },
          'node started',
        );
        process.stdout.write('ready\n');
        if (api !== undefined) process.stdout.write(`rpc ${api.url}\nconsole ${api.httpUrl}/\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        nodeLog.info({}, 'draining');
      } finally {
        await firer?.close();
        removeDiscovery?.();
        await api?.close();
        await face?.close();
        await consoleModel?.close();
        await stopTables?.();
        detach();
        await opened[Symbol.asyncDispose]();
      }
      nodeLog.info({}, 'stopped');
    });
}

/**
 * The tables of a node started without `--tables`, opened when `ipvm sql` first asks through
 * the API and brought up to date from the node's log before each query.
 */
async function openEmbeddedTables(
  opened: OpenNode,
  clickhouseUrl: string | undefined,
): Promise<{ store: TableStore; catchUp: () => Promise<void> }> {
  const tables = await import('../../processors/tables/index.ts');
  const indexer = await import('../../processors/index-tables.ts');
  const store = tables.openTableStore({ clickhouseUrl, dataDir: opened.dataDir });
  await store.migrate();
  const streams = indexer.tableStreams(opened.node.topology);
  return {
    store,
    catchUp: async () => {
      await tables.catchUpTables({
        log: opened.log,
        store,
        streams,
        verify: opened.authority.receiptCheck,
      });
    },
  };
}
