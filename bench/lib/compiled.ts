// The node child as an installed package runs it: compiled to JavaScript by the package's own
// build (tsconfig.build.json, what `npm pack` runs), plus the child itself, into .cache/ of this
// clone (so the clone's node_modules resolve). Built once per benchmark process, ~6 s.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const out = join(root, '.cache', 'bench-compiled');
let built: string | undefined;

/** Path of the compiled `our-node-child.js`, building it on the first call. */
export function compiledChild(): string {
  if (built !== undefined) return built;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  // `files` of an extending config replaces the base's: the package's entry points, and the child.
  const { files } = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')) as {
    files: string[];
  };
  const config = join(out, 'tsconfig.json');
  writeFileSync(
    config,
    JSON.stringify({
      extends: '../../tsconfig.build.json',
      compilerOptions: { outDir: '.', declaration: false },
      files: [...files, 'bench/lib/our-node-child.ts'].map((f) => `../../${f}`),
    }),
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', config], { stdio: 'inherit' });
  cpSync(join(root, 'processors', 'api', 'console'), join(out, 'processors', 'api', 'console'), {
    recursive: true,
  });
  built = join(out, 'bench', 'lib', 'our-node-child.js');
  return built;
}
