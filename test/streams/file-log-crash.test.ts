import { describe, expect, it } from 'vitest';
import { runCrashTest } from './file-log-crash.ts';

describe('file log crash safety', () => {
  it('keeps every acknowledged record through 50 SIGKILLs at random moments', async () => {
    const report = await runCrashTest({ iterations: 50 });
    expect(report.iterations).toBe(50);
    expect(report.acknowledged).toBeGreaterThan(0);
    expect(report.recordsOnDisk).toBeGreaterThanOrEqual(report.acknowledged);
  }, 120_000);
});
