// `ipvm car export CID... -o FILE` and `ipvm car import FILE`: move content between nodes as
// CARv1 files.
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  createHeliaContentStore,
  parseResource,
  resolveDataDir,
} from '../../processors/content/index.ts';
import type { ContentCommandContext } from './add.ts';

/** Register `ipvm car export` and `ipvm car import`. */
export function registerCar(program: Command, ctx: ContentCommandContext = {}): Command {
  const print = ctx.print ?? ((line: string) => console.log(line));
  const env = ctx.env ?? process.env;
  const car = program.command('car').description('export or import CAR files');
  car
    .command('export')
    .description('write the DAGs of the given CIDs to a CAR file')
    .argument('<cids...>', 'root CIDs (or ipfs://<cid>)')
    .requiredOption('-o, --output <file>', 'CAR file to write')
    .option('--data-dir <dir>', 'data directory (default: $IPVM_DATA_DIR or .ipvm)')
    .action(async (cids: string[], opts: { output: string; dataDir?: string }) => {
      const roots = cids.map((c) => parseResource(c));
      // Node 22 has no `await using`: close explicitly.
      const store = await createHeliaContentStore({
        dataDir: resolveDataDir(opts.dataDir, env),
      });
      const out = createWriteStream(opts.output);
      try {
        await store.exportCar(roots, async (chunk) => {
          if (!out.write(chunk)) await once(out, 'drain');
        });
        out.end();
        await once(out, 'finish');
      } catch (err) {
        // Not a partial CAR: a file that is there is a whole export. A write (or the file's
        // open) may still be in flight: it fails once the stream is destroyed, and the file is
        // removed only after the stream has closed, so that no late open makes it again.
        out.on('error', () => undefined);
        out.destroy();
        if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
        await rm(opts.output, { force: true });
        throw err;
      } finally {
        await store.close();
      }
    });
  car
    .command('import')
    .description('store every block of a CAR file and print its roots')
    .argument('<file>', 'CAR file to read')
    .option('--data-dir <dir>', 'data directory (default: $IPVM_DATA_DIR or .ipvm)')
    .action(async (file: string, opts: { dataDir?: string }) => {
      const store = await createHeliaContentStore({
        dataDir: resolveDataDir(opts.dataDir, env),
      });
      try {
        const roots = await store.importCar(createReadStream(file) as AsyncIterable<Uint8Array>);
        for (const root of roots) print(root.toString());
      } finally {
        await store.close();
      }
    });
  return car;
}
