// Crash test of the file log: a child appends batches under the durable policy and reports
// each acknowledged batch; the parent SIGKILLs it at a random moment, reopens the log (which
// recovers the tail) and checks that every acknowledged record is there, intact and in order,
// and that nothing corrupt is ever returned. Repeated `iterations` times on one log.
//
// The default test runs 50 kills (test/streams/file-log-crash.test.ts); for more:
//   node test/streams/file-log-crash.ts --iterations 1000
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileLog } from '../../streams/file/index.ts';

export const CRASH_STREAM = 'crash';
const VALUE_BYTES = 200;

/** A value whose every byte is derived from (run, seq), so damage anywhere is detected. */
export function crashValue(run: number, seq: number): Uint8Array {
  const value = new Uint8Array(VALUE_BYTES);
  const view = new DataView(value.buffer);
  view.setUint32(0, run);
  view.setUint32(4, seq);
  for (let i = 8; i < VALUE_BYTES; i++) value[i] = (run * 31 + seq * 7 + i) & 0xff;
  return value;
}

function checkValue(value: Uint8Array): { run: number; seq: number } {
  if (value.byteLength !== VALUE_BYTES) throw new Error(`value of ${value.byteLength} bytes`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const run = view.getUint32(0);
  const seq = view.getUint32(4);
  const expected = crashValue(run, seq);
  for (let i = 8; i < VALUE_BYTES; i++) {
    if (value[i] !== expected[i])
      throw new Error(`value of run ${run} seq ${seq} damaged at byte ${i}`);
  }
  return { run, seq };
}

export interface CrashReport {
  iterations: number;
  acknowledged: number;
  recordsOnDisk: number;
}

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'file-log-crash-child.ts');

/** Runs the child once and kills it `killAfterMs` after it is ready; returns its ack lines. */
function runChild(dir: string, run: number, killAfterMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, String(run), String(run * 7919 + 1)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      if (timer === undefined && (out + chunk).includes('ready\n')) {
        timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
      out += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      if (signal !== 'SIGKILL') {
        reject(new Error(`child ended with ${code ?? signal} before being killed\n${err}`));
        return;
      }
      // A last line cut by the kill is not an acknowledgement the parent received.
      const lines = out.split('\n');
      lines.pop();
      resolve(lines.filter((line) => line.startsWith('ack ')));
    });
  });
}

export async function runCrashTest(options: {
  iterations: number;
  dir?: string;
  minKillMs?: number;
  maxKillMs?: number;
  onIteration?: (i: number, acknowledged: number) => void;
}): Promise<CrashReport> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'ipvm-crash-'));
  const minKill = options.minKillMs ?? 5;
  const maxKill = options.maxKillMs ?? 60;
  // partition → offset → [run, seq] for every acknowledged record.
  const acked = new Map<number, Map<number, [number, number]>>();
  let acknowledged = 0;
  let recordsOnDisk = 0;
  try {
    for (let run = 1; run <= options.iterations; run++) {
      const lines = await runChild(dir, run, minKill + Math.random() * (maxKill - minKill));
      for (const line of lines) {
        const [, runText, firstText, ...positions] = line.split(' ');
        const first = Number(firstText);
        positions.forEach((position, i) => {
          const [p, o] = position.split(':').map(Number) as [number, number];
          let byOffset = acked.get(p);
          if (byOffset === undefined)
            acked.set(p, (byOffset = new Map<number, [number, number]>()));
          if (byOffset.has(o)) throw new Error(`offset ${p}:${o} acknowledged twice`);
          byOffset.set(o, [Number(runText), first + i]);
          acknowledged++;
        });
      }
      // Reopen as the writer (recovering the tail) and verify everything.
      const log = createFileLog({ dir });
      try {
        recordsOnDisk = 0;
        const lastSeq = new Map<string, number>();
        const partitions = await log.partitions(CRASH_STREAM);
        for (let p = 0; p < partitions; p++) {
          let expectedOffset = 0;
          for await (const record of log.read(CRASH_STREAM, { partition: p })) {
            if (record.offset !== expectedOffset) {
              throw new Error(
                `partition ${p}: offset ${record.offset} where ${expectedOffset} was expected`,
              );
            }
            expectedOffset++;
            const { run: r, seq } = checkValue(record.value);
            if (record.key !== `key-${seq % 17}`)
              throw new Error(`wrong key at ${p}:${record.offset}`);
            const order = `${p}/${r}`;
            if ((lastSeq.get(order) ?? -1) >= seq)
              throw new Error(`out of order at ${p}:${record.offset}`);
            lastSeq.set(order, seq);
            const want = acked.get(p)?.get(record.offset);
            if (want !== undefined && (want[0] !== r || want[1] !== seq)) {
              throw new Error(
                `record at ${p}:${record.offset} is run ${r} seq ${seq}, acknowledged as ${want.join(' ')}`,
              );
            }
            recordsOnDisk++;
          }
          for (const offset of acked.get(p)?.keys() ?? []) {
            if (offset >= expectedOffset) {
              throw new Error(
                `acknowledged record ${p}:${offset} lost (partition ends at ${expectedOffset})`,
              );
            }
          }
        }
      } finally {
        await log.close();
      }
      options.onIteration?.(run, acknowledged);
    }
    return { iterations: options.iterations, acknowledged, recordsOnDisk };
  } finally {
    if (options.dir === undefined) rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--iterations');
  const iterations = at > 0 ? Number(process.argv[at + 1]) : 1000;
  const started = Date.now();
  const report = await runCrashTest({
    iterations,
    onIteration: (i, n) => {
      if (i % 50 === 0) console.log(`${i} kills, ${n} acknowledged records verified`);
    },
  });
  console.log(
    `crash test: ${report.iterations} kills, ${report.acknowledged} acknowledged records all present and intact, ` +
      `${report.recordsOnDisk} records on disk, ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}
