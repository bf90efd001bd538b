// A secret-tainted workflow leaves nothing on the shared Kafka topics (read back raw).
import { afterAll, describe, it } from 'vitest';
import { createKafkaLog } from '../../streams/kafka/index.ts';
import { startKafka, startOrSkip, uniqueName } from '../harness/servers.ts';
import { describeSecretsStayLocal } from './secrets.suite.ts';

const kafka = await startOrSkip('Kafka', startKafka);
afterAll(async () => {
  await kafka?.stop();
});

if (kafka === undefined) {
  describe.skip('secrets on Kafka (no broker)', () => {
    it('needs a Kafka broker', () => undefined);
  });
} else {
  const brokers = kafka.brokers;
  describe('secrets on Kafka', () => {
    describeSecretsStayLocal(() => Promise.resolve(createKafkaLog({ brokers })), uniqueName('sec'));
  });
}
