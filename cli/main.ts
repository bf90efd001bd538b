// The `ipvm` command line. Each command lives in its own module under cli/commands/.
import { Command, CommanderError } from 'commander';
import { registerInspect } from './commands/inspect.ts';

const program = new Command('ipvm')
  .description('An IPVM node: content-addressed WebAssembly compute over content-addressed data')
  .version('0.1.0')
  .showHelpAfterError()
  .exitOverride();

registerInspect(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const e = err as Error & { retryable?: boolean };
  process.stderr.write(`ipvm: ${e.name}: ${e.message}\n`);
  // 1: bad input or a failed run; 2: usage (commander); 3: infrastructure, worth retrying.
  process.exit(e.retryable === true ? 3 : 1);
}
