// `ipvm start`: a long-lived node that runs whatever producers append to `invocations`, with an
// optional JSON-RPC/WebSocket API (Homestar-compatible) and Prometheus metrics.
import type { Command } from 'commander';
import { DEFAULT_API_HOST, HOMESTAR_DEFAULT_PORT } from '../../processors/api/defaults.ts';
import { DEFAULT_BID_WINDOW_MS } from '../../processors/cluster/types.ts';
import {
  DEFAULT_HEAP_GROWTH_PERCENT,
  HEAP_GROWTH_RULE,
  isHeapGrowth,
  limitHeapGrowth,
} from '../../processors/compose/heap-growth.ts';
import {
  becomeLongLived,
  DEFAULT_YOUNG_GENERATION_MIB,
  isYoungGeneration,
  YOUNG_GENERATION_RULE,
  youngGenerationMib,
} from '../../processors/compose/long-lived-process.ts';
import { UsageError } from '../exit.ts';
import { commandLogger, logProgress } from '../logging.ts';
import { writeDiscovery } from '../discovery.ts';
import { nodeConfig, nodeOptions, type NodeFlags } from '../node-context.ts';

interface StartFlags extends NodeFlags {
  rpcPort?: string;
  rpcHost: string;
  rpcAllowedHosts?: string;
  rpcAllowedOrigins?: string;
  tables?: boolean;
  clickhouseUrl?: string;
  consoleActions?: boolean;
  bidWindow?: string;
  heapGrowth?: string;
  youngGeneration?: string;
}

export { commandLogger };

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** Where an option's value came from, for its error: `from` is commander's value source. */
function given(value: string, from: string | undefined, env: string): string {
  const source = from === 'env' ? ` from ${env}` : from === 'config' ? ' from the config file' : '';
  return `got ${JSON.stringify(value)}${source}`;
}

/** `--bid-window MS`: a whole number of milliseconds, at least 1; `from` names where it came from. */
function parseBidWindow(value: string | undefined, from: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(ms) || ms < 1)
    throw new UsageError(
      `--bid-window must be a whole number of milliseconds, at least 1 (${given(value, from, 'IPVM_BID_WINDOW')})`,
    );
  return ms;
}

/** `--heap-growth PERCENT`: what `isHeapGrowth` takes, written as digits; `from` as above. */
function parseHeapGrowth(value: string | undefined, from: string | undefined): number {
  if (value === undefined) return DEFAULT_HEAP_GROWTH_PERCENT;
  const percent = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !isHeapGrowth(percent))
    throw new UsageError(`${HEAP_GROWTH_RULE} (${given(value, from, 'IPVM_HEAP_GROWTH')})`);
  return percent;
}

/** `--young-generation MIB`: what `isYoungGeneration` takes, written as digits; `from` as above. */
function parseYoungGeneration(value: string | undefined, from: string | undefined): number {
  if (value === undefined) return DEFAULT_YOUNG_GENERATION_MIB;
  const mib = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !isYoungGeneration(mib))
    throw new UsageError(
      `${YOUNG_GENERATION_RULE} (${given(value, from, 'IPVM_YOUNG_GENERATION')})`,
    );
  return mib;
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
        '--bid-window <ms>',
        `on a cluster, how long a workflow's owner waits for bids on a placed task before awarding it (env IPVM_BID_WINDOW; default ${DEFAULT_BID_WINDOW_MS})`,
      )
      .option(
        '--heap-growth <percent>',
        `how far, in percent, the heap may grow past what its last full collection kept before the next one; 0 leaves it to V8, which lets a busy node grow it to 4 times that (env IPVM_HEAP_GROWTH; default ${DEFAULT_HEAP_GROWTH_PERCENT})`,
      )
      .option(
        '--young-generation <mib>',
        `how large V8's young generation (where new objects live until a scavenge) may grow, both semi-spaces; 0 leaves it to V8, which grows it to 32 MiB under load (env IPVM_YOUNG_GENERATION; default ${DEFAULT_YOUNG_GENERATION_MIB})`,
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
      const bidWindowMs = parseBidWindow(
        flags.bidWindow,
        command.getOptionValueSource('bidWindow'),
      );
      const heapGrowth = parseHeapGrowth(
        flags.heapGrowth,
        command.getOptionValueSource('heapGrowth'),
      );
      // Before anything opens: the process re-executes itself, in place, with what a long-lived
      // node's process needs from its start (long-lived-process.ts); this action then runs again.
      const reexecuted = becomeLongLived(
        parseYoungGeneration(
          flags.youngGeneration,
          command.getOptionValueSource('youngGeneration'),
        ),
      );
      const logger = commandLogger(command);
      const nodeLog = logger.child({ component: 'node' });
      if (reexecuted === 'unavailable')
        nodeLog.warn(
          { platform: process.platform },
          "this platform cannot re-execute a process: the node runs with V8's own young generation and the allocator's own arenas",
        );
      const { compiledWhole } = await import('../../processors/compose/compiled-whole.ts');
      // A long-lived process: its heap is collected before it grows by 2/3 (heap-growth.ts).
      limitHeapGrowth(heapGrowth);
      const opened = await compiledWhole(async () =>
        (await import('../../processors/compose/open-node.ts')).openNode({
          ...nodeConfig(flags),
          bidWindowMs,
          onProgress: logProgress(nodeLog),
          logger: nodeLog,
          metrics: true,
          tables: flags.tables === true ? { clickhouseUrl: flags.clickhouseUrl } : undefined,
          api:
            rpcPort === undefined
              ? undefined
              : {
                  host: flags.rpcHost,
                  port: rpcPort,
                  allowedHosts: list(flags.rpcAllowedHosts),
                  allowedOrigins: list(flags.rpcAllowedOrigins),
                  consoleActions: flags.consoleActions === true,
                },
          schedules: true,
        }),
      );
      const { node, api } = opened;
      let removeDiscovery: (() => void) | undefined;
      try {
        if (api !== undefined)
          removeDiscovery = writeDiscovery(opened.dataDir, {
            url: api.url,
            httpUrl: api.httpUrl,
            pid: process.pid,
            nodeId: node.nodeId,
            startedAt: Date.now(),
          });
        nodeLog.info(
          {
            nodeId: node.nodeId,
            backend: flags.backend ?? 'file',
            dataDir: opened.dataDir,
            heapGrowth,
            youngGeneration: youngGenerationMib(),
            mallocArenas: process.env.MALLOC_ARENA_MAX,
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
        removeDiscovery?.();
        await opened[Symbol.asyncDispose]();
      }
      nodeLog.info({}, 'stopped');
    });
}
