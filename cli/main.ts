// The `ipvm` command line. Each command lives in its own module under cli/commands/.
import { Command } from 'commander';

const program = new Command('ipvm')
  .description('An IPVM node: content-addressed WebAssembly compute over content-addressed data')
  .version('0.1.0');

await program.parseAsync(process.argv);
