// The package's build: the node, its workers and the client compiled to JavaScript (with the
// client's declarations), and the console's static files beside the compiled API — what an
// installed package runs, since Node strips no types under node_modules.
//
//   node infra/build-dist.ts          (npm run build; npm pack runs it first)
//
// `buildDist` also serves the benchmarks, which compile their node child with the same build.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(import.meta.dirname, '..');

/** Compiles tsconfig.build.json's entry points, plus `extraFiles`, into `outDir` (replaced). */
export function buildDist(outDir: string, extraFiles: readonly string[] = []): void {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  // An extending config's `files` replaces the base's: list the base's again.
  const { files } = JSON.parse(readFileSync(join(root, 'tsconfig.build.json'), 'utf8')) as {
    files: string[];
  };
  const config = join(outDir, 'tsconfig.build.json');
  const up = relative(outDir, root);
  writeFileSync(
    config,
    JSON.stringify({
      extends: join(up, 'tsconfig.build.json'),
      compilerOptions: { outDir: '.' },
      files: [...files, ...extraFiles].map((f) => join(up, f)),
    }),
  );
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', config], { stdio: 'inherit' });
  } finally {
    rmSync(config);
  }
  cpSync(join(root, 'processors', 'api', 'console'), join(outDir, 'processors', 'api', 'console'), {
    recursive: true,
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) buildDist(join(root, 'dist'));
