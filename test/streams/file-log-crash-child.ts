// Child process of the file-log crash test: appends batches under the durable fsync policy and
// prints one line per acknowledged batch ("ack <run> <firstSeq> <partition>:<offset> …") until
// it is killed. Usage: node file-log-crash-child.ts <dir> <run> <seed>
import { createFileLog } from '../../streams/file/index.ts';
import { CRASH_STREAM, crashValue } from './file-log-crash.ts';

const [dir, runArg, seedArg] = process.argv.slice(2);
if (dir === undefined || runArg === undefined || seedArg === undefined) {
  throw new Error('usage: file-log-crash-child.ts <dir> <run> <seed>');
}
const run = Number(runArg);
let seed = Number(seedArg) >>> 0 || 1;
const random = (): number => {
  // xorshift32: reproducible batch shapes per seed.
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 0x1_0000_0000;
};

const log = createFileLog({ dir, fsync: 'batch', segmentBytes: 64 * 1024 });
await log.ensureStreams([{ name: CRASH_STREAM, partitions: 3 }]);
process.stdout.write('ready\n');
let seq = 0;
for (;;) {
  const size = 1 + Math.floor(random() * 40);
  const first = seq;
  const records = Array.from({ length: size }, () => {
    const s = seq++;
    return { key: `key-${s % 17}`, value: crashValue(run, s) };
  });
  const results = await log.append(CRASH_STREAM, records);
  process.stdout.write(
    `ack ${run} ${first} ${results.map((r) => `${r.partition}:${r.offset}`).join(' ')}\n`,
  );
}
