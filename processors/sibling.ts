/**
 * The URL of a module beside the calling one, for `new Worker(…)`: the same base name with the
 * caller's own extension. Run from the sources (a clone), the caller is `x.ts` and so is its
 * sibling; run from the installed package, which carries the node compiled to JavaScript (Node
 * strips no types under `node_modules`), both are `.js`.
 *
 * @module
 */

/** `sibling(import.meta.url, './worker')` → `…/worker.ts` or `…/worker.js`. */
export function sibling(callerUrl: string, name: string): URL {
  const ext = callerUrl.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`${name}${ext}`, callerUrl);
}
