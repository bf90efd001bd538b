/**
 * The node's streams from a {@link LogConfig}: the file log in the data directory (a reader
 * never takes the writer lock, so a running node is not disturbed), Kafka or JetStream (their
 * clients load only when chosen).
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Log } from '../../streams/log.ts';
import { createFileLog } from '../../streams/file/index.ts';
import { createTopology, DEFAULT_NAMESPACE, type Topology } from '../../streams/topology.ts';
import { withBlocks } from '../blocks/blocks-log.ts';
import { resolveDataDir } from '../content/index.ts';
import type { LogConfig } from './config.ts';

/**
 * Opens the log of `dataDir` (file) or the broker's, storing large values once on the
 * namespace's `blocks` stream (`processors/blocks/`): every reader and writer of the node's
 * streams opens them here.
 */
export async function openLog(
  config: LogConfig | undefined,
  dataDir: string,
  readOnly = false,
  namespace = DEFAULT_NAMESPACE,
): Promise<Log> {
  const blocks = {
    stream: createTopology({ namespace }).name('blocks'),
    threshold: config?.largeValueBytes,
  };
  return withBlocks(await backend(config, dataDir, readOnly), blocks);
}

async function backend(
  config: LogConfig | undefined,
  dataDir: string,
  readOnly: boolean,
): Promise<Log> {
  const c = config ?? { backend: 'file' };
  switch (c.backend) {
    case 'file':
      return readOnly
        ? createFileLog({ dir: join(dataDir, 'log'), readOnly: true })
        : createFileLog({
            dir: join(dataDir, 'log'),
            fsync: c.fsync ?? 'batch',
            pollWhileSyncingMs: c.pollWhileSyncingMs,
          });
    case 'kafka': {
      const { createKafkaLog } = await import('../../streams/kafka/index.ts');
      return createKafkaLog({ brokers: c.brokers });
    }
    case 'nats': {
      const { createJetStreamLog } = await import('../../streams/jetstream/index.ts');
      return createJetStreamLog({ servers: c.servers });
    }
  }
}

/** The data directory has no log to read (bad input: exit 1). */
export class NoLogError extends Error {
  override name = 'NoLogError';
  readonly retryable = false;
}

/** A log with the node's stream names. */
export interface OpenLog extends AsyncDisposable {
  log: Log;
  topology: Topology;
  dataDir: string;
}

/** What {@link openReadLog} and {@link openWriteLog} need. */
export interface LogPlace {
  dataDir?: string;
  log?: LogConfig;
  namespace?: string;
}

/**
 * Opens the log for reading (the file log without its writer lock).
 * @throws {NoLogError} a file log that was never written
 */
export async function openReadLog(place: LogPlace): Promise<OpenLog> {
  const dataDir = resolveDataDir(place.dataDir);
  if ((place.log?.backend ?? 'file') === 'file' && !existsSync(join(dataDir, 'log'))) {
    throw new NoLogError(
      `no log in ${dataDir}: nothing has run with this data directory (check --data-dir / IPVM_DATA_DIR)`,
    );
  }
  return withTopology(await openLog(place.log, dataDir, true, place.namespace), place, dataDir);
}

/** Opens the log for writing (takes the file log's writer lock). */
export async function openWriteLog(place: LogPlace): Promise<OpenLog> {
  const dataDir = resolveDataDir(place.dataDir);
  return withTopology(await openLog(place.log, dataDir, false, place.namespace), place, dataDir);
}

function withTopology(log: Log, place: LogPlace, dataDir: string): OpenLog {
  return {
    log,
    topology: createTopology({ namespace: place.namespace ?? 'ipvm' }),
    dataDir,
    [Symbol.asyncDispose]: () => log.close(),
  };
}
