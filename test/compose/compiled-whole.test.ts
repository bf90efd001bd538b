// processors/compose/compiled-whole.ts: what a node opens inside `compiledWhole` is compiled
// whole as it loads, and lazy compilation is back on afterwards, on success and on failure.
// V8's flags are per process, so each case runs in a Node process of its own; how much
// bytecode a module of 300 uncalled functions adds when imported tells which mode compiled it.
import { describe, expect, it } from 'vitest';
import { runProbe } from '../harness/probe.ts';

const COMPILED_WHOLE = new URL('../../processors/compose/compiled-whole.ts', import.meta.url).href;

const script = `
import { getHeapCodeStatistics } from 'node:v8';
import { writeFileSync } from 'node:fs';
const { compiledWhole } = await import(${JSON.stringify(COMPILED_WHOLE)});
const source = (tag) =>
  Array.from({ length: 300 }, (_, i) =>
    \`export function f_\${tag}_\${i}(a) { let s = 0; for (let k = 0; k < a; k++) s += k * \${i}; return s; }\`,
  ).join('\\n');
/** Bytecode the import of a fresh module of 300 uncalled functions adds. */
const load = async (tag) => {
  const file = process.env.PROBE_DIR + '/m-' + tag + '.mjs';
  writeFileSync(file, source(tag));
  const before = getHeapCodeStatistics().bytecode_and_metadata_size;
  await import(file);
  return getHeapCodeStatistics().bytecode_and_metadata_size - before;
};
const out = { before: await load('before') };
out.inside = await compiledWhole(() => load('inside'));
out.after = await load('after');
out.failed = await compiledWhole(() => Promise.reject(new Error('open failed'))).then(
  () => 'resolved',
  (e) => e.message,
);
out.afterFailure = await load('afterFailure');
console.log(JSON.stringify(out));
`;

describe('compiledWhole', () => {
  it('compiles what loads inside it whole, then lazily again, also after a failed open', async () => {
    const out = JSON.parse(await runProbe(script)) as {
      before: number;
      inside: number;
      after: number;
      failed: string;
      afterFailure: number;
    };
    // 300 functions compiled whole: tens of KB of bytecode; compiled lazily: the module's top only.
    expect(out.inside).toBeGreaterThan(20_000);
    expect(out.before).toBeLessThan(out.inside / 10);
    expect(out.after).toBeLessThan(out.inside / 10);
    expect(out.failed).toBe('open failed');
    expect(out.afterFailure).toBeLessThan(out.inside / 10);
  });
});
