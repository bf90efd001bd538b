// `ipvm init --lang as|wat|js NAME`: write a starter project (source, WIT world, README) into
// ./NAME, ready for `ipvm build NAME`.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { LANGUAGES, starterFiles, type Language } from '../byol/templates.ts';
import { UsageError } from '../exit.ts';

/** A WIT identifier: lowercase words joined by `-` (the name is also the world's). */
const WIT_NAME = /^[a-z][a-z0-9]*(-[a-z][a-z0-9]*)*$/;

/** Register `ipvm init`. */
export function registerInit(program: Command, print = (line: string) => console.log(line)) {
  return program
    .command('init')
    .description('write a starter project (source and WIT world) for `ipvm build`')
    .argument('<name>', 'project folder and WIT world name (lowercase words joined by -)')
    .addOption(
      new Option('--lang <lang>', 'source language').choices(LANGUAGES).makeOptionMandatory(),
    )
    .addHelpText(
      'after',
      `
Writes NAME/ with a function add(a, b) in the chosen language (as: AssemblyScript, wat:
WebAssembly text, js: JavaScript), its WIT world (world.wit, world NAME), ipvm-build.json and a
README.

Examples:
  ipvm init --lang as demo && ipvm build demo --add   # prints the component's path and CID
  ipvm init --lang wat my-math`,
    )
    .action(async (name: string, opts: { lang: Language }) => {
      if (!WIT_NAME.test(name))
        throw new UsageError(
          `name ${JSON.stringify(name)} is not a WIT identifier (lowercase words joined by -, e.g. my-math)`,
        );
      if (existsSync(name)) throw new UsageError(`${name} already exists: pick another name`);
      await mkdir(name);
      for (const [file, text] of Object.entries(starterFiles(opts.lang, name)))
        await writeFile(join(name, file), text);
      print(`${name}/  (${opts.lang}; build it with: ipvm build ${name} --add)`);
    });
}
