import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Tests import `ipvm-node/client` from the sources, as the clone does (package.json exports:
  // an installed copy gets the compiled `dist/`); the rest are Vite's default server conditions.
  ssr: { resolve: { conditions: ['ipvm-source', 'module', 'node', 'development|production'] } },
  test: {
    include: ['test/**/*.test.ts', '**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**', '.data/**'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Integration suites start real servers (Kafka, NATS, ClickHouse): keep files from
    // competing for the two cores of a small machine.
    fileParallelism: true,
    maxWorkers: 2,
    // Each worker loads the sources once for all the files it runs (a fresh module graph per
    // file cost ~1 of ~5.5 minutes on two cores). What the files share is harmless: the
    // harness's cached probes (is there a container runtime) and its unique-name counter;
    // each file opens what it tests (a node, a log, a server) and closes it in its hooks.
    isolate: false,
  },
});
