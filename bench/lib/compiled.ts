// The node child as an installed package runs it: compiled to JavaScript by the package's own
// build (infra/build-dist.ts, what `npm pack` runs), plus the child itself, into .cache/ of this
// clone (so the clone's node_modules resolve). Built once per benchmark process, ~6 s.
import { join } from 'node:path';
import { buildDist } from '../../infra/build-dist.ts';

const out = join(import.meta.dirname, '..', '..', '.cache', 'bench-compiled');
let built: string | undefined;

/** Path of the compiled `our-node-child.js`, building it on the first call. */
export function compiledChild(): string {
  if (built !== undefined) return built;
  buildDist(out, ['bench/lib/our-node-child.ts']);
  built = join(out, 'bench', 'lib', 'our-node-child.js');
  return built;
}
