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
import { StreamNotFoundError } from '../../streams/errors.ts';
import { createFileLog } from '../../streams/file/index.ts';
import {
  createTopology,
  DEFAULT_NAMESPACE,
  STREAM_NAMES,
  type StreamName,
  type Topology,
} from '../../streams/topology.ts';
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

async function withTopology(log: Log, place: LogPlace, dataDir: string): Promise<OpenLog> {
  try {
    const backend = place.log?.backend ?? 'file';
    const topology = await topologyFor(log, backend, place.namespace ?? DEFAULT_NAMESPACE);
    return { log, topology, dataDir, [Symbol.asyncDispose]: () => log.close() };
  } catch (error) {
    await log.close();
    throw error;
  }
}

/**
 * Partitions of each stream a new file log gets. A group commit syncs one file per partition it
 * touches, and one process reads them all: more partitions only cost syncs. (Four per stream,
 * the brokers' default, synced up to eight files per commit of a single-step workflow's
 * records; one per stream took steps/s at 64 in flight from ~4 500 to ~6 400 — bench/README.)
 */
export const FILE_LOG_PARTITIONS = 1;

/**
 * The node's stream names and partition counts over `log`. On a broker, the topology's defaults
 * (`DEFAULT_PARTITIONS`): partitions are how a consumer group's members share the work. On the
 * file log, a stream that exists keeps the partitions it was created with (a data directory
 * made when the file log's streams had four keeps them), and a new one gets
 * {@link FILE_LOG_PARTITIONS}.
 */
export async function topologyFor(
  log: Log,
  backend: NonNullable<LogConfig['backend']>,
  namespace: string,
): Promise<Topology> {
  if (backend !== 'file') return createTopology({ namespace });
  const names = createTopology({ namespace });
  const partitions: Partial<Record<StreamName, number>> = {};
  for (const stream of STREAM_NAMES) {
    try {
      partitions[stream] = await log.partitions(names.name(stream));
    } catch (error) {
      if (!(error instanceof StreamNotFoundError)) throw error;
      partitions[stream] = FILE_LOG_PARTITIONS;
    }
  }
  return createTopology({ namespace, partitions });
}
