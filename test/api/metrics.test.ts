// The node's metrics as `GET /metrics` renders them: the log's group-commit counters.
import { describe, expect, it } from 'vitest';
import { createNodeMetrics } from '../../processors/metrics.ts';
import type { CommitStats } from '../../streams/log.ts';

const sample = (text: string, name: string): number | undefined => {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
};

describe('log commit metrics', () => {
  it("renders the log's counters as they are at each scrape", async () => {
    let stats: CommitStats | undefined;
    const metrics = createNodeMetrics({ commits: () => stats });
    // Not opened yet: registered, at 0.
    expect(sample(await metrics.render(), 'ipvm_log_commits_total')).toBe(0);
    stats = { commits: 3, records: 7, syncSeconds: 0.25 };
    let text = await metrics.render();
    expect(sample(text, 'ipvm_log_commits_total')).toBe(3);
    expect(sample(text, 'ipvm_log_committed_records_total')).toBe(7);
    expect(sample(text, 'ipvm_log_sync_seconds_total')).toBe(0.25);
    expect(text).toMatch(/^# TYPE ipvm_log_commits_total counter$/m);
    stats = { commits: 5, records: 9, syncSeconds: 0.5 };
    text = await metrics.render();
    expect(sample(text, 'ipvm_log_commits_total')).toBe(5);
    expect(sample(text, 'ipvm_log_committed_records_total')).toBe(9);
    expect(sample(text, 'ipvm_log_sync_seconds_total')).toBe(0.5);
  });

  it('leaves them out for a log that does not count its commits (a broker)', async () => {
    const text = await createNodeMetrics().render();
    expect(text).not.toMatch(/ipvm_log_/);
  });
});
