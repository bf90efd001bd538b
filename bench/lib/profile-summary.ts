// Summarizes a V8 CPU profile (`node --cpu-prof`): self time by function and by file, so a
// profile of a benchmark can be read (and quoted) without a browser. `summarizeAllocations` does
// the same for a sampling heap profile: bytes allocated by function and by file.
//
//   node bench/lib/profile-summary.ts PROFILE.cpuprofile [--top 25] [--from MS] [--to MS]
//
// --from/--to keep only samples in that window (ms since the profile started).
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

type CallFrame = ProfileNode['callFrame'];

/** Where a frame's code is: a path relative to the working directory, `npm:…`, or `(native)`. */
function where(frame: CallFrame): string {
  const url = frame.url;
  if (url === '') return '(native)';
  const path = url.startsWith('file://') ? relative(process.cwd(), new URL(url).pathname) : url;
  return path.replace(/^.*node_modules\//, 'npm:');
}

/** A sampling heap profile (`HeapProfiler.stopSampling`): a tree of frames with bytes. */
export interface AllocationNode {
  callFrame: CallFrame;
  selfSize: number;
  children: AllocationNode[];
}

/**
 * Bytes allocated by file and by function, per `unit` (e.g. per workflow), as printable text.
 * Counts what was sampled — with V8's `includeObjectsCollectedBy{Major,Minor}GC`, garbage too,
 * i.e. the allocation rate rather than what stays alive.
 */
export function summarizeAllocations(
  head: AllocationNode,
  { units = 1, unit = 'unit', top = 25 }: { units?: number; unit?: string; top?: number } = {},
): string {
  const fnSelf = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  let total = 0;
  const stack = [head];
  for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
    stack.push(...n.children);
    if (n.selfSize === 0) continue;
    const f = n.callFrame;
    const name = `${f.functionName || '(anonymous)'}  ${where(f)}:${f.lineNumber + 1}`;
    fnSelf.set(name, (fnSelf.get(name) ?? 0) + n.selfSize);
    const file = f.url === '' ? f.functionName || '(native)' : where(f);
    fileSelf.set(file, (fileSelf.get(file) ?? 0) + n.selfSize);
    total += n.selfSize;
  }
  const lines = [`${(total / units).toFixed(0)} bytes allocated per ${unit} (sampled)`];
  const show = (title: string, m: Map<string, number>): void => {
    lines.push('', title);
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
      lines.push(
        `${((v / total) * 100).toFixed(1).padStart(5)}%  ${(v / units).toFixed(0).padStart(8)} B  ${k}`,
      );
  };
  show(`allocated per ${unit}, by file`, fileSelf);
  show(`allocated per ${unit}, by function`, fnSelf);
  return lines.join('\n');
}

/** Self time by file and by function, as printable text. */
export function summarize(
  p: Profile,
  { top = 25, fromMs = 0, toMs = Infinity }: { top?: number; fromMs?: number; toMs?: number } = {},
): string {
  const from = fromMs * 1000;
  const to = toMs * 1000;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const fnSelf = new Map<string, number>();
  const fileSelf = new Map<string, number>();
  let total = 0;
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    const dt = p.timeDeltas[i + 1] ?? 0;
    const n = byId.get(p.samples[i]!)!;
    const name = `${n.callFrame.functionName || '(anonymous)'}  ${where(n.callFrame)}:${n.callFrame.lineNumber + 1}`;
    fnSelf.set(name, (fnSelf.get(name) ?? 0) + dt);
    const f = n.callFrame.url === '' ? n.callFrame.functionName || '(native)' : where(n.callFrame);
    fileSelf.set(f, (fileSelf.get(f) ?? 0) + dt);
    total += dt;
  }
  const lines = [`${(total / 1000).toFixed(0)} ms sampled`];
  const show = (title: string, m: Map<string, number>): void => {
    lines.push('', title);
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
      lines.push(
        `${((v / total) * 100).toFixed(1).padStart(5)}%  ${(v / 1000).toFixed(1).padStart(8)} ms  ${k}`,
      );
  };
  show('self time by file', fileSelf);
  show('self time by function', fnSelf);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const opt = (name: string, fallback: number): number => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? Number(argv[i + 1]) : fallback;
  };
  const file = argv[0];
  if (file === undefined) {
    console.error('usage: node bench/lib/profile-summary.ts PROFILE.cpuprofile [--top N]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  console.log(
    summarize(profile, { top: opt('top', 25), fromMs: opt('from', 0), toMs: opt('to', Infinity) }),
  );
}
