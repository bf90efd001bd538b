// The `ipvm` command line. Each command lives in its own module under cli/commands/.
//
// Exit codes: 0 ok · 1 a workflow failed or the input is bad · 2 usage (unknown flag, missing
// argument, bad config file) · 3 infrastructure trouble worth retrying (broker down, log locked).
import { Command, CommanderError, Option } from 'commander';
import { applyConfig } from './config.ts';
import { EXIT } from './exit.ts';

const program = new Command('ipvm')
  .description('An IPVM node: content-addressed WebAssembly compute over content-addressed data')
  .version('0.1.0')
  .addOption(
    new Option(
      '--config <file>',
      `config file of shared flags (env IPVM_CONFIG; default ./ipvm.config.json when present)`,
    ),
  )
  .addOption(
    new Option(
      '--log-level <level>',
      'trace, debug, info, warn, error, fatal or silent; logs go to stderr (env IPVM_LOG_LEVEL)',
    ),
  )
  .showHelpAfterError()
  .exitOverride()
  .addHelpText(
    'after',
    `
Shared flags come from the command line, then the environment (IPVM_DATA_DIR, IPVM_BACKEND,
KAFKA_BROKERS, NATS_URL, IPVM_NAMESPACE, IPVM_RPC_PORT, IPVM_LOG_LEVEL, …), then the config file.

Exit codes: 0 ok, 1 workflow failed or bad input, 2 usage, 3 infrastructure (retry later).

Examples:
  ipvm run examples/workflows/add-one.json
  ipvm watch --workflow bafyrmi… --from earliest
  ipvm status
  ipvm graph examples/workflows/add-one.json --format svg > dag.svg
  ipvm start --rpc-port 1337`,
  );

program.hook('preAction', async (_program, action) => {
  applyConfig(action);
  // Every command checks --log-level (exit 2 for a bad one), whether or not it logs.
  (await import('./logging.ts')).commandLogger(action);
});

/**
 * The commands, each loaded only when it runs: `ipvm --help` and the start of every command
 * pay for one command's imports, not all of them. Commander has no lazy subcommands of its own,
 * so the others are listed by name and summary only.
 */
const COMMANDS: ReadonlyArray<
  readonly [name: string, summary: string, load: () => Promise<(p: Command) => unknown>]
> = [
  [
    'inspect',
    'Parse a workflow and print its CIDs as JSON',
    async () => (await import('./commands/inspect.ts')).registerInspect,
  ],
  [
    'run',
    'Run a workflow on the node and print its receipts',
    async () => (await import('./commands/run.ts')).registerRun,
  ],
  [
    'call',
    'Call one function of a Wasm module and print its result',
    async () => (await import('./commands/call.ts')).registerCall,
  ],
  [
    'watch',
    'Follow receipts live and print them',
    async () => (await import('./commands/watch.ts')).registerWatch,
  ],
  [
    'status',
    'Show the workflows and their progress',
    async () => (await import('./commands/status.ts')).registerStatus,
  ],
  [
    'cancel',
    'Cancel a running workflow',
    async () => (await import('./commands/cancel.ts')).registerCancel,
  ],
  [
    'graph',
    'Draw the task DAG (Mermaid or SVG)',
    async () => (await import('./commands/graph.ts')).registerGraph,
  ],
  [
    'start',
    'Start a long-lived node',
    async () => (await import('./commands/start.ts')).registerStart,
  ],
  [
    'add',
    'Store a file and print its CID',
    async () => (await import('./commands/add.ts')).registerAdd,
  ],
  [
    'init',
    'Write a starter project (as, wat, js)',
    async () => (await import('./commands/init.ts')).registerInit,
  ],
  [
    'build',
    'Build a project into a component',
    async () => (await import('./commands/build.ts')).registerBuild,
  ],
  [
    'car',
    'Export or import CAR files',
    async () => (await import('./commands/car.ts')).registerCar,
  ],
  [
    'sql',
    "Run ClickHouse SQL over the node's tables",
    async () => (await import('./commands/sql.ts')).registerSql,
  ],
  [
    'replay',
    'Rebuild the tables or re-verify every receipt',
    async () => (await import('./commands/replay.ts')).registerReplay,
  ],
  [
    'nodes',
    'List the live nodes of a cluster',
    async () => (await import('./commands/nodes.ts')).registerNodes,
  ],
  [
    'cron',
    'Schedules: run a workflow or a replay job on a cron pattern',
    async () => (await import('./commands/cron.ts')).registerCron,
  ],
  // One module registers all three (they share the identity and secret stores).
  ['id', "Print this node's DID", async () => (await import('./commands/auth.ts')).registerAuth],
  [
    'ucan',
    'Issue UCAN tokens signed by this node',
    async () => (await import('./commands/auth.ts')).registerAuth,
  ],
  [
    'secret',
    "This node's local secrets",
    async () => (await import('./commands/auth.ts')).registerAuth,
  ],
];

/** The command named on the command line (after global flags), if any. */
function commandName(argv: readonly string[]): string | undefined {
  const withValue = new Set(['--config', '--log-level']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (withValue.has(a)) i++;
    else if (!a.startsWith('-')) return a === 'help' ? (argv[i + 1] ?? a) : a;
  }
  return undefined;
}

const chosen = COMMANDS.find(([name]) => name === commandName(process.argv.slice(2)));
if (chosen !== undefined) (await chosen[2]())(program);
for (const [name, summary] of COMMANDS)
  if (!program.commands.some((c) => c.name() === name)) program.command(name).description(summary);

// A reader that goes away (`ipvm watch | head`) ends the command quietly, like a Unix tool
// killed by SIGPIPE (Node ignores that signal and reports EPIPE on the stream instead). Work the
// command had started is not lost: the log is crash-safe and the next node resumes it.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.brokenPipe);
  throw err;
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  const e = err as Error & { retryable?: boolean; usage?: boolean };
  process.stderr.write(`ipvm: ${e.name}: ${e.message}\n`);
  // Another node holds the data dir's log: infrastructure, fine again once it stops.
  const locked = e.name === 'LogLockedError';
  if (locked)
    process.stderr.write(
      'ipvm: another node is running on this data directory: stop it, use its API (ipvm start --rpc-port), or pick another --data-dir\n',
    );
  process.exit(
    e.usage === true ? EXIT.usage : e.retryable === true || locked ? EXIT.retryable : EXIT.failed,
  );
}
