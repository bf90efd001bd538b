// `ipvm nodes [--json]`: the live nodes of a namespace on Kafka or JetStream, from the
// heartbeats on its `nodes` stream.
import type { Command } from 'commander';
import { UsageError } from '../exit.ts';
import { logOptions, type NodeFlags, logPlace } from '../node-context.ts';
import { openReadLog } from '../../processors/compose/open-log.ts';
import { DEFAULT_HEARTBEAT_MS, type NodeAnnouncement } from '../../processors/cluster/types.ts';

interface NodesFlags extends NodeFlags {
  json?: boolean;
  waitMs: string;
}

function table(nodes: NodeAnnouncement[]): string {
  const head = ['NODE', 'LOAD', 'MODULES', 'RAN', 'LAG', 'EFFECT HOSTS', 'SECRETS', 'ADDRS'];
  const rows = nodes.map((n) => [
    n.id,
    `${n.load.running}/${n.load.concurrency}`,
    String(n.modules),
    String(n.compiled?.length ?? 0),
    n.lag === null ? '-' : String(n.lag),
    n.capabilities.effectHosts.join(',') || '-',
    n.capabilities.secrets.join(',') || '-',
    n.addrs.join(' ') || '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows]
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function registerNodes(program: Command): void {
  logOptions(
    program
      .command('nodes')
      .description('List the live nodes of a namespace (Kafka or NATS backends)')
      .option('--json', 'print a JSON list of the nodes’ last heartbeats')
      .option(
        '--wait-ms <ms>',
        'listen to heartbeats this long',
        String(Math.round(DEFAULT_HEARTBEAT_MS * 1.5)),
      ),
  )
    .addHelpText(
      'after',
      `
Every node started with --backend kafka|nats heartbeats on the <namespace>.nodes stream; this
command listens for one and a half heartbeat intervals and lists who spoke, with what
matchmaking uses to place tasks naming meta.node or meta.needs: LOAD (tasks running / slots),
MODULES (compiled), RAN (modules run lately; --json lists their CIDs), EFFECT HOSTS (net:
needs) and SECRETS (secret: needs).

Examples:
  ipvm nodes --backend kafka --brokers 127.0.0.1:9092
  ipvm nodes --backend nats --nats-url nats://127.0.0.1:4222 --json`,
    )
    .action(async (flags: NodesFlags) => {
      if ((flags.backend ?? 'file') === 'file')
        throw new UsageError('ipvm nodes needs --backend kafka or nats (a file log has one node)');
      const waitMs = Number(flags.waitMs);
      if (!Number.isFinite(waitMs) || waitMs < 0)
        throw new UsageError(`--wait-ms must be a number of milliseconds (got ${flags.waitMs})`);
      const { listLiveNodes } = await import('../../processors/cluster/membership.ts');
      const opened = await openReadLog(logPlace(flags));
      try {
        const nodes = await listLiveNodes(opened.log, opened.topology.namespace, { waitMs });
        process.stdout.write(
          flags.json === true ? `${JSON.stringify(nodes, null, 2)}\n` : `${table(nodes)}\n`,
        );
      } finally {
        await opened[Symbol.asyncDispose]();
      }
    });
}
