// What a process's resident memory is made of, sampled from inside it: the pages of its
// binary and libraries it touched (file-backed, shared with every process running them), V8's
// young and old generations and the rest of its heap, array buffers (off the heap), and the
// rest (the allocator's own, threads, compiled Wasm). The benchmarks' node child keeps the
// parts at the highest RSS it sampled, so a peak is printed with what it was made of.
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

/** Parts of the resident set, bytes. */
export interface RssParts {
  rss: number;
  /** File-backed pages (the `node` binary, shared libraries). */
  file: number;
  /** V8's young generation (its semi-spaces, and large objects allocated young). */
  young: number;
  /** V8's old generation (old space and large objects). */
  old: number;
  /** The rest of V8's heap (code, trusted and read-only spaces). */
  otherHeap: number;
  /** Array buffers' backing stores. */
  arrayBuffers: number;
  /** The rest: the allocator's own, thread stacks, compiled Wasm, V8's external memory. */
  other: number;
}

function rollup(): { rss: number; anonymous: number } {
  const text = readFileSync('/proc/self/smaps_rollup', 'utf8');
  const field = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: field('Rss'), anonymous: field('Anonymous') };
}

/** The parts of this process's resident set now. */
export function rssParts(): RssParts {
  const { rss, anonymous } = rollup();
  let young = 0;
  let old = 0;
  let otherHeap = 0;
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_name === 'new_space' || s.space_name === 'new_large_object_space')
      young += s.physical_space_size;
    else if (s.space_name === 'old_space' || s.space_name === 'large_object_space')
      old += s.physical_space_size;
    else otherHeap += s.physical_space_size;
  }
  const file = rss - anonymous;
  const { arrayBuffers } = process.memoryUsage();
  const other = rss - file - young - old - otherHeap - arrayBuffers;
  return { rss, file, young, old, otherHeap, arrayBuffers, other };
}

/**
 * Samples {@link rssParts} every `intervalMs` (default 100: ~50 µs each) and keeps those of the
 * highest RSS seen.
 */
export function samplePeakParts(intervalMs = 100): { peak(): RssParts; stop(): void } {
  let peak = rssParts();
  const timer = setInterval(() => {
    const now = rssParts();
    if (now.rss > peak.rss) peak = now;
  }, intervalMs);
  timer.unref();
  return {
    peak: () => {
      const now = rssParts();
      if (now.rss > peak.rss) peak = now;
      return peak;
    },
    stop: () => clearInterval(timer),
  };
}

/** `parts` as one line: "binary and libraries 49, young 32, …" in MiB. */
export function describeParts(parts: RssParts): string {
  const m = (n: number): string => (n / 2 ** 20).toFixed(0);
  return (
    `at the sampled peak ${m(parts.rss)} MiB: binary and libraries ${m(parts.file)}, ` +
    `V8 young ${m(parts.young)}, old ${m(parts.old)}, other heap ${m(parts.otherHeap)}, ` +
    `array buffers ${m(parts.arrayBuffers)}, the rest ${m(parts.other)}`
  );
}
