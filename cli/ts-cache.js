// The stripped JavaScript of this clone's TypeScript sources, kept between runs of `ipvm`.
//
// In a clone `ipvm` runs its TypeScript sources through Node's type stripping, which loads a
// WebAssembly TypeScript parser on every start and strips every module again: ~0.2 s and
// ~30 MB of a command that otherwise takes ~0.5 s (`ipvm run` answered from the memo). A
// module hook (in this thread: the command's, not its workers') keeps each source's stripped
// form under `.cache/ts/` of the clone, one file per source path, headed by a hash of the Node
// version and the source it was stripped from; a source whose hash differs is stripped again
// and its file replaced, so an edit is seen at the next run. Stripping replaces types with
// spaces, so positions in stack traces are the source's. Nothing here runs in an installed
// package (compiled JavaScript, no TypeScript) nor under the tests (vitest transforms them).
//
// Set IPVM_TS_CACHE=0 to strip every source afresh, as Node does by itself.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { registerHooks, stripTypeScriptTypes } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, URL } from 'node:url';

/** The first line of a cached file: the marker and the hash of what it was stripped from. */
const HEAD = '// ipvm ts-cache ';

/**
 * Serves the `.ts` modules under `root` (outside node_modules) from the cache in its
 * `.cache/ts/`. Does nothing when that directory cannot be made (a read-only clone).
 * @param {URL} [root] a directory; by default this clone's
 */
export function cacheStrippedTypeScript(root = new URL('..', import.meta.url)) {
  if (process.env.IPVM_TS_CACHE === '0') return;
  const rootPath = fileURLToPath(root);
  const dir = join(rootPath, '.cache', 'ts');
  try {
    mkdirSync(dir, { recursive: true });
  } catch {
    return;
  }
  const prefix = root.href.endsWith('/') ? root.href : `${root.href}/`;
  registerHooks({
    load(url, context, nextLoad) {
      if (!url.startsWith(prefix) || !url.endsWith('.ts') || url.includes('/node_modules/'))
        return nextLoad(url, context);
      const source = readFileSync(fileURLToPath(url), 'utf8');
      const hash = createHash('sha256')
        .update(process.version)
        .update('\0')
        .update(source)
        .digest('hex');
      const file = join(dir, `${createHash('sha256').update(url).digest('hex').slice(0, 32)}.js`);
      const head = `${HEAD}${hash}\n`;
      let cached;
      try {
        cached = readFileSync(file, 'utf8');
      } catch {
        cached = undefined;
      }
      if (cached?.startsWith(head))
        return { format: 'module', source: cached.slice(head.length), shortCircuit: true };
      const js = quietly(() => stripTypeScriptTypes(source, { mode: 'strip' }));
      try {
        // Written aside and renamed: a concurrent `ipvm` reads the old file or the new, whole.
        const aside = `${file}.${process.pid}`;
        writeFileSync(aside, head + js);
        renameSync(aside, file);
      } catch {
        // A full disk or a read-only cache: the module still loads, stripped this once.
      }
      return { format: 'module', source: js, shortCircuit: true };
    },
  });
}

/**
 * Runs `f` without Node's one-time warning that stripTypeScriptTypes is experimental (the same
 * stripping Node applies to every source here without a warning).
 * @template T
 * @param {() => T} f
 * @returns {T}
 */
function quietly(f) {
  const own = Object.getOwnPropertyDescriptor(process, 'emitWarning');
  process.emitWarning = () => undefined;
  try {
    return f();
  } finally {
    if (own !== undefined) Object.defineProperty(process, 'emitWarning', own);
    else delete process.emitWarning;
  }
}
