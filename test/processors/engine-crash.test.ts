// Crash safety on the embedded file log: SIGKILL the node 50 times (IPVM_CRASH_KILLS) while a
// 1 000-task workflow runs; nothing may be lost and every receipt CID must match a clean run.
// `npm run test:crash` runs 1 000 kills.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { cleanup, crashScenario, prepare } from './crash-scenario.ts';

const KILLS = Number(process.env.IPVM_CRASH_KILLS ?? 50);

describe('engine crash safety: file log', () => {
  let files: Awaited<ReturnType<typeof prepare>>;
  beforeAll(async () => {
    files = await prepare();
  });
  afterAll(async () => {
    await cleanup(files);
  });

  it(`loses nothing across ${KILLS} kills and matches an uninterrupted run`, async () => {
    await crashScenario(
      files,
      {
        env: { IPVM_TEST_BACKEND: 'file' },
        place: (f, hint) => join(f.base, hint),
        open: (dir) => createFileLog({ dir, readOnly: true }),
        namespace: () => 'ipvm',
        lifeMs: [5, 150],
      },
      KILLS,
    );
  }, 3_600_000);
});
