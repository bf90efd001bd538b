// The engine suite on a real Kafka broker.
import { afterAll, describe, it } from 'vitest';
import { createKafkaLog } from '../../streams/kafka/index.ts';
import { describeEngine } from '../conformance/engine.suite.ts';
import { startKafka, startOrSkip, uniqueName } from '../harness/servers.ts';

const kafka = await startOrSkip('Kafka', startKafka);
afterAll(async () => {
  await kafka?.stop();
});

if (kafka === undefined) {
  describe.skip('engine on Kafka (no broker)', () => {
    it('needs a Kafka broker', () => undefined);
  });
} else {
  const brokers = kafka.brokers;
  describeEngine('kafka', () =>
    Promise.resolve({
      open: () => Promise.resolve(createKafkaLog({ brokers })),
      namespace: (hint) => uniqueName(`eng${hint}`),
    }),
  );
}
