// `ipvm start`: a long-lived node that runs whatever producers append to `invocations`, with an
// optional JSON-RPC/WebSocket API (Homestar-compatible) and Prometheus metrics.
import type { Command } from 'commander';
import type { ApiServer } from '../../processors/api/index.ts';
import type { ConsoleModel } from '../../processors/api/console-model.ts';
import type { TableStore } from '../../processors/tables/table-store.ts';
import { DEFAULT_API_HOST, HOMESTAR_DEFAULT_PORT } from '../../processors/api/defaults.ts';
import { createLogger, isLogLevel, LOG_LEVELS, type Logger } from '../../processors/logger.ts';
import { UsageError } from '../exit.ts';
import { nodeOptions, openNode, type NodeFlags } from '../node-context.ts';

interface StartFlags extends NodeFlags {
  rpcPort?: string;
  rpcHost: string;
  tables?: boolean;
  clickhouseUrl?: string;
  consoleActions?: boolean;
}

/** The logger of a command, at the level of `--log-level` / IPVM_LOG_LEVEL / the config file. */
export function commandLogger(command: Command): Logger {
  const level = command.optsWithGlobals<{ logLevel?: string }>().logLevel ?? 'info';
  if (!isLogLevel(level))
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got ${level})`);
  return createLogger({ level });
}

function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || value === '' || value === 'off') return undefined;
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
        `serve the JSON-RPC API (HTTP + WebSocket) and /metrics on this port; 0 picks one (env IPVM_RPC_PORT; default off; Homestar uses ${HOMESTAR_DEFAULT_PORT})`,
      )
      .option(
        '--rpc-host <host>',
        'address the API binds (env IPVM_RPC_HOST); anything but loopback exposes the node',
        DEFAULT_API_HOST,
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
Logs are JSON lines on stderr (--log-level, IPVM_LOG_LEVEL).

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
      const [{ consumerLag, createNodeMetrics }, { createApiServer }] = await Promise.all([
        import('../../processors/metrics.ts'),
        import('../../processors/api/index.ts'),
      ]);
      const nodeLog = logger.child({ component: 'node' });
      let consoleModel: ConsoleModel | undefined;
      let lag: (() => ReturnType<typeof consumerLag>) | undefined;
      const metrics = createNodeMetrics({
        processMetrics: true,
        // Cheap on the embedded log only (see consumerLag).
        lag: async () => (lag === undefined ? [] : [await lag()]),
      });
      const opened = await openNode(flags, (e) => {
        metrics.onProgress(e);
        switch (e.type) {
          case 'node:recovered':
            nodeLog.info(
              {
                receipts: e.receipts,
                invocations: e.invocations,
                emitted: e.emitted,
                ms: Math.round(e.ms),
              },
              'recovered',
            );
            break;
          case 'node:dead-letter':
            nodeLog.warn(
              { stream: e.stream, partition: e.partition, offset: e.offset, reason: e.reason },
              'dead letter',
            );
            break;
          case 'node:error':
            nodeLog.error({ err: e.error }, 'node error');
            break;
          case 'execute:ran':
            nodeLog.debug(
              { instruction: e.instruction, ok: e.ok, fuel: e.fuel, ms: e.durationMs },
              'task executed',
            );
            break;
          case 'execute:retry':
            consoleModel?.noteRetry(e.instruction);
            nodeLog.warn(
              { instruction: e.instruction, attempt: e.attempt, err: e.error },
              'task retried',
            );
            break;
          default:
            break;
        }
      });
      const { node, log } = opened;
      if ((flags.backend ?? 'file') === 'file')
        lag = () =>
          consumerLag(log, 'executor', node.topology.name('invocations'), { cap: 10_000 });
      const detach = metrics.attach(node);
      let api: ApiServer | undefined;
      let stopTables: (() => Promise<void>) | undefined;
      let tableStore: TableStore | undefined;
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
            node,
            metrics,
            console: createConsoleRpc({
              node,
              model: consoleModel,
              actions: flags.consoleActions === true,
              lag: async () => (lag === undefined ? [] : [await lag()]),
              concurrency: Number(flags.concurrency ?? 16),
              tables: tableStore,
            }),
            consoleFiles: await loadConsoleFiles(),
            host: flags.rpcHost,
            port: rpcPort,
            p2p: opened.content.network,
            logger: logger.child({ component: 'api' }),
            health: async ({ signal }) => {
              await log.partitions(node.topology.name('invocations'), { signal });
              return true;
            },
          });
        }
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
        await api?.close();
        await consoleModel?.close();
        await stopTables?.();
        detach();
        await opened[Symbol.asyncDispose]();
      }
      nodeLog.info({}, 'stopped');
    });
}
