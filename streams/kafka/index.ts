export { createKafkaLog, groupOf } from './kafka-log.ts';
export type { KafkaLogInit, KafkaLogger } from './kafka-log.ts';
export {
  DEFAULT_BUFFER_SIZE,
  DEFAULT_CLIENT_ID,
  DEFAULT_MAX_WAIT_TIME_MS,
  DEFAULT_SESSION_TIMEOUT_MS,
} from './kafka-log.ts';
