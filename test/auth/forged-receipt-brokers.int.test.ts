// A forged receipt arriving from another node over a real broker (Kafka, NATS JetStream) is
// refused as on the embedded log (forged-receipt.suite.ts), its instruction executed.
import { afterAll, describe, it } from 'vitest';
import { createKafkaLog } from '../../streams/kafka/index.ts';
import { createJetStreamLog } from '../../streams/jetstream/index.ts';
import { startKafka, startNats, startOrSkip, uniqueName } from '../harness/servers.ts';
import { describeForgedReceipt } from './forged-receipt.suite.ts';

const kafka = await startOrSkip('Kafka', startKafka);
const nats = await startOrSkip('JetStream', startNats);
afterAll(async () => {
  await kafka?.stop();
  await nats?.stop();
});

if (kafka === undefined)
  describe.skip('a forged receipt on Kafka (no broker)', () => {
    it('needs a Kafka broker', () => undefined);
  });
else {
  const brokers = kafka.brokers;
  describe('a forged receipt on Kafka', () => {
    describeForgedReceipt(() => Promise.resolve(createKafkaLog({ brokers })), uniqueName('forged'));
  });
}

if (nats === undefined)
  describe.skip('a forged receipt on NATS JetStream (no server)', () => {
    it('needs a NATS server', () => undefined);
  });
else {
  const servers = nats.url;
  describe('a forged receipt on NATS JetStream', () => {
    describeForgedReceipt(
      () => Promise.resolve(createJetStreamLog({ servers, storage: 'file' })),
      uniqueName('forged'),
    );
  });
}
