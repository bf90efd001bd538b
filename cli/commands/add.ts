// `ipvm add FILE [--data-dir D]`: store a file as UnixFS and print its CID (the CID
// `ipfs add --cid-version=1` prints for the same file).
import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { createHeliaContentStore, resolveDataDir } from '../../processors/content/index.ts';

/** What the content commands need from the surrounding CLI. */
export interface ContentCommandContext {
  /** Prints one line of output. @default console.log */
  print?: (line: string) => void;
  /** Environment used for `IPVM_DATA_DIR`. @default process.env */
  env?: Record<string, string | undefined>;
}

/** Register `ipvm add`. */
export function registerAdd(program: Command, ctx: ContentCommandContext = {}): Command {
  const print = ctx.print ?? ((line: string) => console.log(line));
  return program
    .command('add')
    .description('store a file in the local content store and print its CID')
    .argument('<file>', 'file to add')
    .option('--data-dir <dir>', 'data directory (default: $IPVM_DATA_DIR or .ipvm)')
    .action(async (file: string, opts: { dataDir?: string }) => {
      const dataDir = resolveDataDir(opts.dataDir, ctx.env ?? process.env);
      // Node 22 has no `await using`: close explicitly.
      const store = await createHeliaContentStore({ dataDir });
      try {
        const cid = await store.add(createReadStream(file) as AsyncIterable<Uint8Array>);
        print(cid.toString());
      } finally {
        await store.close();
      }
    });
}
