// Builds a project written by `ipvm init` into a component: AssemblyScript (asc) or WAT
// (wabt) → core module → component, or JavaScript through `jco componentize`.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import {
  ComponentBuildError,
  componentizeJs,
  coreToComponent,
  watToCore,
} from '../../processors/wasm/build.ts';
import { LANGUAGES, MANIFEST, type BuildManifest } from './templates.ts';

/** Read and check `DIR/ipvm-build.json`; a bad one names the field. */
export async function readManifest(dir: string): Promise<BuildManifest> {
  const file = join(dir, MANIFEST);
  let m: Partial<BuildManifest>;
  try {
    m = JSON.parse(await readFile(file, 'utf8')) as Partial<BuildManifest>;
  } catch (err) {
    throw new ComponentBuildError(
      `${file}: ${(err as Error).message} (write a project with \`ipvm init --lang as|wat|js NAME\`)`,
      { cause: err, file },
    );
  }
  if (!LANGUAGES.includes(m.lang as never))
    throw new ComponentBuildError(`${file}: "lang" must be one of ${LANGUAGES.join(', ')}`, {
      file,
    });
  for (const key of ['source', 'wit', 'world'] as const)
    if (typeof m[key] !== 'string' || m[key] === '')
      throw new ComponentBuildError(`${file}: "${key}" must be a non-empty string`, { file });
  return m as BuildManifest;
}

/**
 * The part of asc's API used here. Declared locally on purpose: asc's own type declarations
 * augment the global `Array` (its `at()` returns `T`, not `T | undefined`), which would weaken
 * every array access in the project once the compiler sees them.
 */
interface AscApi {
  compileString(
    sources: Record<string, string>,
    options: { runtime: string; optimizeLevel: number; noAssert: boolean },
  ): Promise<{ error: Error | null; binary: Uint8Array | null; stderr: unknown }>;
}

/** AssemblyScript → core module, with asc's located diagnostics on failure. */
async function ascToCore(source: string, filename: string): Promise<Uint8Array> {
  const specifier: string = 'assemblyscript/asc';
  const asc = ((await import(specifier)) as { default: AscApi }).default;
  const out = await asc.compileString(
    { [filename]: source },
    { runtime: 'stub', optimizeLevel: 3, noAssert: true },
  );
  if (out.error !== null || out.binary === null) {
    // stderr (an in-memory stream) holds each diagnostic with its `in FILE(line,column)`, coloured.
    const text = stripVTControlCharacters((out.stderr as { toString(): string }).toString()).trim();
    throw new ComponentBuildError(text || String(out.error), { cause: out.error, file: filename });
  }
  return out.binary;
}

/**
 * Build the project in `dir` into `dir/build/component.wasm` and return that path.
 * @throws ComponentBuildError when the source or the WIT world does not build.
 */
export async function buildProject(dir: string, signal?: AbortSignal): Promise<string> {
  const m = await readManifest(dir);
  const outDir = join(dir, 'build');
  const out = join(outDir, 'component.wasm');
  await mkdir(outDir, { recursive: true });
  // A failed build must not leave the previous component looking like its output.
  await rm(out, { force: true });
  if (m.lang === 'js') {
    await componentizeJs({
      source: join(dir, m.source),
      wit: join(dir, m.wit),
      world: m.world,
      out,
      signal,
    });
    return out;
  }
  const source = await readFile(join(dir, m.source), 'utf8');
  const wit = await readFile(join(dir, m.wit), 'utf8');
  const core = await toCore(m, source).catch((err: unknown) => {
    // Name the project's file first: the toolchains only know its name inside the folder.
    const e = err as ComponentBuildError;
    throw new ComponentBuildError(`${join(dir, m.source)} does not build:\n${e.message}`, {
      cause: err,
      file: join(dir, m.source),
    });
  });
  signal?.throwIfAborted();
  await writeFile(out, await coreToComponent(core, wit, m.world));
  return out;
}

function toCore(m: BuildManifest, source: string): Promise<Uint8Array> {
  return m.lang === 'as' ? ascToCore(source, m.source) : watToCore(source, m.source);
}
