export { createFileLog } from './file-log.ts';
export type { FileLogInit, FsyncPolicy, RetentionPolicy } from './file-log.ts';
export {
  DEFAULT_INDEX_INTERVAL_BYTES,
  DEFAULT_POLL_INTERVAL_MS,
  DEFAULT_POLL_WHILE_SYNCING_MS,
  DEFAULT_READ_CHUNK_BYTES,
  DEFAULT_SEGMENT_BYTES,
} from './file-log.ts';
