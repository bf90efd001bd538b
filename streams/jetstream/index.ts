export { createJetStreamLog } from './jetstream-log.ts';
export type { JetStreamLogInit } from './jetstream-log.ts';
export {
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_BATCH_SIZE,
  DEFAULT_DUPLICATE_WINDOW_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from './jetstream-log.ts';
