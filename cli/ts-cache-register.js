// `node --import ./cli/ts-cache-register.js SCRIPT.ts`: any script of this clone with its
// sources served from the stripped-source cache, as `ipvm` runs them (ts-cache.js). The
// benchmarks start their node child this way, so it loads what `ipvm start` loads.
import { cacheStrippedTypeScript } from './ts-cache.js';

cacheStrippedTypeScript();
