// Crash safety on the embedded file log: SIGKILL the node IPVM_CRASH_KILLS times, each after a
// seeded random number of receipts (IPVM_CRASH_SEED reproduces a run); nothing may be lost and
// every receipt CID must match a clean run. `npm run test:crash` runs 1 000 kills.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { cleanup, crashScenario, prepare } from './crash-scenario.ts';

// A smoke in `npm test`: 5 kills over 200 tasks; `npm run test:crash` runs 1 000 over 1 000.
const KILLS = Number(process.env.IPVM_CRASH_KILLS ?? 5);
const TASKS = Number(process.env.IPVM_CRASH_TASKS ?? (KILLS > 50 ? 1000 : 200));

describe('engine crash safety: file log', () => {
  let files: Awaited<ReturnType<typeof prepare>>;
  beforeAll(async () => {
    files = await prepare(TASKS);
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
        label: 'file log',
      },
      KILLS,
    );
  }, 3_600_000);
});
