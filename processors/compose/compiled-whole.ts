/**
 * A long-lived node compiles its own code whole while it opens. V8 compiles a function the
 * first time it is called unless told otherwise, so a node's first task pays for compiling
 * every function on its path (submit, parse, schedule, run, receipt, commit): about half of a
 * second process's first receipt (`bench/cold-start.bench.ts`: ~19 against ~10 ms), for ~40 ms
 * more to start. `ipvm start` and the benchmarks' node child (which stands for it) open the
 * node inside {@link compiledWhole}; a one-shot command (`ipvm run`) does not, since it would
 * compile code it never calls.
 *
 * @module
 */
import { setFlagsFromString } from 'node:v8';

/**
 * Runs `open` with V8's lazy compilation off (`--no-lazy`): the modules it imports are
 * compiled whole as they load. Lazy compilation is back on when `open` settles, so code loaded
 * later (a component's generated glue, say) is compiled on demand as usual.
 */
export async function compiledWhole<T>(open: () => Promise<T>): Promise<T> {
  setFlagsFromString('--no-lazy');
  try {
    return await open();
  } finally {
    setFlagsFromString('--lazy');
  }
}
