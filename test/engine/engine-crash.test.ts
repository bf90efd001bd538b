// Crash safety on the embedded file log: SIGKILL the node IPVM_CRASH_KILLS times, each after a
// seeded random number of tasks run (IPVM_CRASH_SEED reproduces a run); nothing may be lost and
// every receipt CID must match a clean run. `npm run test:crash` runs 1 000 kills.
// The single 1 000-step chain checks pipelining: each step starts from the previous receipt
// while its append is in flight, so a kill lands with receipts computed but not durable.
// The 2 000 independent tasks check the release in chunks (core.appendEvents): their task/ready
// records are handed to the log 256 at a time while the first tasks already run, so a kill may
// keep only part of the release.
// The replayed workflow checks the replayed receipts a workflow writes on `invocations` for the
// tasks another one ran: each exactly once after the kills, as in a clean run.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createFileLog } from '../../streams/file/index.ts';
import { cleanup, crashScenario, prepare, prepareThen } from './crash-scenario.ts';

// A smoke in `npm test`: 5 kills over 200 tasks; `npm run test:crash` runs 1 000 over 1 000.
const KILLS = Number(process.env.IPVM_CRASH_KILLS ?? 5);
const TASKS = Number(process.env.IPVM_CRASH_TASKS ?? (KILLS > 50 ? 1000 : 200));

const fileBackend = {
  env: { IPVM_TEST_BACKEND: 'file' },
  place: (f: { base: string }, hint: string) => join(f.base, hint),
  open: (dir: string) => createFileLog({ dir, readOnly: true }),
  namespace: () => 'ipvm',
  label: 'file log',
};

describe('engine crash safety: file log', () => {
  let files: Awaited<ReturnType<typeof prepare>>;
  beforeAll(async () => {
    files = await prepare(TASKS);
  });
  afterAll(async () => {
    await cleanup(files);
  });

  it(`loses nothing across ${KILLS} kills and matches an uninterrupted run`, async () => {
    await crashScenario(files, fileBackend, KILLS);
  }, 3_600_000);

  it(`a pipelined 1 000-step chain loses nothing across ${KILLS} kills`, async () => {
    const chain = await prepare(1000, 1);
    try {
      await crashScenario(chain, { ...fileBackend, label: 'file log, 1 000-step chain' }, KILLS);
    } finally {
      await cleanup(chain);
    }
  }, 3_600_000);

  it(`a workflow replayed from another's receipts loses and repeats none across ${KILLS} kills`, async () => {
    const first = await prepare(TASKS);
    try {
      // Its replayed receipts go on `invocations` while its own tasks run: a kill may keep
      // only some of them, and recovery must write exactly the rest.
      const then = await prepareThen(first, TASKS);
      await crashScenario(first, { ...fileBackend, label: 'file log, replayed' }, KILLS, then);
    } finally {
      await cleanup(first);
    }
  }, 3_600_000);

  it(`a 2 000-task wide workflow loses nothing across ${KILLS} kills`, async () => {
    const wide = await prepare(2000, 2000);
    try {
      await crashScenario(wide, { ...fileBackend, label: 'file log, 2 000 wide' }, KILLS);
    } finally {
      await cleanup(wide);
    }
  }, 3_600_000);
});
