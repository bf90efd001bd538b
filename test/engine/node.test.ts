// The engine on the embedded file log (the same suite runs on Kafka and JetStream).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileLog } from '../../streams/file/index.ts';
import { describeEngine } from '../conformance/engine.suite.ts';

describeEngine('file log', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ipvm-engine-'));
  let n = 0;
  return {
    open: () => Promise.resolve(createFileLog({ dir })),
    namespace: (hint) => `t${++n}${hint}`,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
