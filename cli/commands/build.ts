// `ipvm build [DIR] [--add]`: turn a project written by `ipvm init` into a component; print its
// path and, with --add, store it and print its CID (what `ipvm add` prints).
import { createReadStream } from 'node:fs';
import type { Command } from 'commander';
import { createHeliaContentStore, resolveDataDir } from '../../processors/content/index.ts';
import { buildProject } from '../byol/build-project.ts';

/** Register `ipvm build`. */
export function registerBuild(program: Command, print = (line: string) => console.log(line)) {
  return program
    .command('build')
    .description('build a project from `ipvm init` into a component the node runs')
    .argument('[dir]', 'project folder', '.')
    .option('--add', 'store the component and print its CID')
    .option('--data-dir <dir>', 'data directory for --add (default: $IPVM_DATA_DIR or .ipvm)')
    .addHelpText(
      'after',
      `
Reads DIR/ipvm-build.json (lang, source, wit, world) and writes DIR/build/component.wasm:
AssemblyScript (asc) or WAT (wabt) → core module → component (jco embed + jco new), or
JavaScript through jco componentize (needs the preview2-shim 0.25.0 npm override). A source that
does not build exits 1 with the toolchain's located message.

Examples:
  ipvm build demo                # demo/build/component.wasm
  ipvm build demo --add          # also stored: prints its CID for a workflow's rsc
  ipvm call CID add 2 40         # 42`,
    )
    .action(async (dir: string, opts: { add?: boolean; dataDir?: string }) => {
      const out = await buildProject(dir);
      print(out);
      if (opts.add !== true) return;
      const store = await createHeliaContentStore({ dataDir: resolveDataDir(opts.dataDir) });
      try {
        print((await store.add(createReadStream(out) as AsyncIterable<Uint8Array>)).toString());
      } finally {
        await store.close();
      }
    });
}
