import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', '**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**', '.data/**'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Integration suites start real servers (Kafka, NATS, ClickHouse): keep files from
    // competing for the two cores of a small machine.
    fileParallelism: true,
    maxWorkers: 2,
  },
});
