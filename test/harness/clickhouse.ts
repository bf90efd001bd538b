// A ClickHouse server for integration tests, found in this order:
//   1. CLICKHOUSE_URL, when set (an existing server);
//   2. testcontainers, when a container runtime works (probed once per process);
//   3. a private server started from infra/clickhouse/ (Debian's clickhouse-server 18.16).
// Outside CI a missing server means "skip, with the reason"; with CI=true it is an error.
import { startClickHouseServer, findClickHouseBinary } from '../../infra/clickhouse/server.ts';

/** A server for a test file; `stop()` releases whatever was started (nothing for a given URL). */
export interface ClickHouseForTests {
  url: string;
  /** Where it came from. */
  source: 'env' | 'container' | 'local';
  stop(): Promise<void>;
}

/** The image used when a container runtime is available. */
export const CLICKHOUSE_IMAGE = 'clickhouse/clickhouse-server:24.8';

let runtimeProbe: Promise<boolean> | undefined;

/** Whether testcontainers can reach a container runtime (probed once; fails fast without one). */
export function containerRuntimeWorks(): Promise<boolean> {
  runtimeProbe ??= (async () => {
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      await getContainerRuntimeClient();
      return true;
    } catch {
      return false;
    }
  })();
  return runtimeProbe;
}

/** Why no server can be had here, or null when one can. */
export async function clickhouseUnavailableReason(): Promise<string | null> {
  if (process.env.CLICKHOUSE_URL) return null;
  if (await containerRuntimeWorks()) return null;
  if (findClickHouseBinary() !== null) return null;
  return 'no CLICKHOUSE_URL, no container runtime and no clickhouse-server binary (run infra/setup.d/30-clickhouse.sh)';
}

/** True when a missing server must fail the run instead of skipping. */
export const mustNotSkip = (): boolean => process.env.CI === 'true';

/** Obtains a server (see the order above). */
export async function startClickHouseForTests(): Promise<ClickHouseForTests> {
  const fromEnv = process.env.CLICKHOUSE_URL;
  if (fromEnv) return { url: fromEnv, source: 'env', stop: async () => {} };
  if (await containerRuntimeWorks()) {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer(CLICKHOUSE_IMAGE)
      .withExposedPorts(8123)
      .withWaitStrategy(Wait.forHttp('/ping', 8123))
      .start();
    return {
      url: `http://${container.getHost()}:${container.getMappedPort(8123)}`,
      source: 'container',
      stop: async () => {
        await container.stop();
      },
    };
  }
  const server = await startClickHouseServer();
  return { url: server.url, source: 'local', stop: () => server.stop() };
}
