// The `ipvm` command line. Each command lives in its own module under cli/commands/.
//
// Exit codes: 0 ok · 1 a workflow failed or the input is bad · 2 usage (unknown flag, missing
// argument, bad config file) · 3 infrastructure trouble worth retrying (broker down, log locked).
import { Command, CommanderError, Option } from 'commander';
import { applyConfig } from './config.ts';
import { registerAdd } from './commands/add.ts';
import { registerCar } from './commands/car.ts';
import { registerGraph } from './commands/graph.ts';
import { registerInspect } from './commands/inspect.ts';
import { registerNodes } from './commands/nodes.ts';
import { registerReplay } from './commands/replay.ts';
import { registerRun } from './commands/run.ts';
import { registerSql } from './commands/sql.ts';
import { registerStart } from './commands/start.ts';
import { registerStatus } from './commands/status.ts';
import { registerWatch } from './commands/watch.ts';
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

program.hook('preAction', (_program, action) => {
  applyConfig(action);
});

registerInspect(program);
registerRun(program);
registerWatch(program);
registerStatus(program);
registerGraph(program);
registerStart(program);
registerAdd(program);
registerCar(program);
registerSql(program);
registerReplay(program);
registerNodes(program);

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
