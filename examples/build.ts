// Builds the example Wasm from source (WAT → core module → component) and stores it in a
// node's content store, so the workflows in examples/workflows/ run:
//
//   node examples/build.ts [--data-dir D]     (npm run examples)
//
// The component's CID is what the workflows name in `rsc`; the build checks that it matches.
import { mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coreToComponent, watToCore } from '../processors/wasm/build.ts';
import { createHeliaContentStore, resolveDataDir } from '../processors/content/index.ts';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const dataDir = resolveDataDir(
  args[args.indexOf('--data-dir') + 1] && args.includes('--data-dir')
    ? args[args.indexOf('--data-dir') + 1]
    : undefined,
);

/** Builds examples/wasm/NAME.wat + NAME.wit (world WORLD) into a component. */
async function build(name: string, world: string): Promise<Uint8Array> {
  const wat = readFileSync(join(here, 'wasm', `${name}.wat`), 'utf8');
  const wit = readFileSync(join(here, 'wasm', `${name}.wit`), 'utf8');
  const component = await coreToComponent(await watToCore(wat, `${name}.wat`), wit, world);
  mkdirSync(join(here, 'wasm', 'out'), { recursive: true });
  // Written aside and renamed: a program reading the file meanwhile (another build, `ipvm add`)
  // sees the old file or the new one, never a file being written.
  const out = join(here, 'wasm', 'out', `${world}.wasm`);
  writeFileSync(`${out}.${process.pid}.tmp`, component);
  renameSync(`${out}.${process.pid}.tmp`, out);
  return component;
}

const store = await createHeliaContentStore({ dataDir });
const built: string[] = [];
for (const [name, world] of [
  ['add-one', 'math'],
  ['transform', 'transform'],
] as const) {
  const cid = (await store.add(await build(name, world))).toString();
  built.push(cid);
  console.log(`${cid}  ${join(here, 'wasm', 'out', `${world}.wasm`)} → ${dataDir}`);
}
await store.close();

let mismatched = 0;
for (const file of readdirSync(join(here, 'workflows'))) {
  const text = readFileSync(join(here, 'workflows', file), 'utf8');
  for (const m of text.matchAll(/ipfs:\/\/(\w+)/g)) {
    if (!built.includes(m[1]!)) {
      console.error(
        `examples/workflows/${file} names ${m[1]}, but the build produced ${built.join(', ')}`,
      );
      mismatched++;
    }
  }
}
if (mismatched > 0) process.exit(1);
