// The `ipvm` command line. Each command lives in its own module under cli/commands/.
import { Command, CommanderError } from 'commander';
import { registerAdd } from './commands/add.ts';
import { registerCar } from './commands/car.ts';
import { registerInspect } from './commands/inspect.ts';
import { registerRun } from './commands/run.ts';
import { registerSql } from './commands/sql.ts';
import { registerStart } from './commands/start.ts';

const program = new Command('ipvm')
  .description('An IPVM node: content-addressed WebAssembly compute over content-addressed data')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

registerInspect(program);
registerRun(program);
registerStart(program);
registerAdd(program);
registerCar(program);
registerSql(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const e = err as Error & { retryable?: boolean };
  process.stderr.write(`ipvm: ${e.name}: ${e.message}\n`);
  // 1: bad input or a failed run; 2: usage (commander); 3: infrastructure, worth retrying.
  process.exit(e.retryable === true ? 3 : 1);
}
