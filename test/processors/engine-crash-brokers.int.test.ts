// Crash safety on Kafka and JetStream: fewer kills than on the file log (each restart of a
// Kafka consumer waits for the group to rebalance), IPVM_CRASH_KILLS_BROKERS to raise them.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createKafkaLog } from '../../streams/kafka/index.ts';
import { createJetStreamLog } from '../../streams/jetstream/index.ts';
import { startKafka, startNats, startOrSkip, uniqueName } from '../harness/servers.ts';
import { cleanup, crashScenario, prepare } from './crash-scenario.ts';

const KILLS = Number(process.env.IPVM_CRASH_KILLS_BROKERS ?? 5);
const nats = await startOrSkip('JetStream', startNats);
const kafka = await startOrSkip('Kafka', startKafka);
let files: Awaited<ReturnType<typeof prepare>>;
beforeAll(async () => {
  files = await prepare(200);
});
afterAll(async () => {
  await cleanup(files);
  await nats?.stop();
  await kafka?.stop();
});

describe.skipIf(nats === undefined)('engine crash safety: JetStream', () => {
  it(`loses nothing across ${KILLS} kills`, async () => {
    await crashScenario(
      files,
      {
        env: { IPVM_TEST_BACKEND: 'nats', NATS_URL: nats!.url },
        place: (_f, hint) => uniqueName(`crash${hint}`),
        open: () => createJetStreamLog({ servers: nats!.url, storage: 'file' }),
        namespace: (place) => place,
        lifeMs: [50, 400],
      },
      KILLS,
    );
  }, 1_800_000);
});

describe.skipIf(kafka === undefined)('engine crash safety: Kafka', () => {
  it(`loses nothing across ${KILLS} kills`, async () => {
    await crashScenario(
      files,
      {
        env: { IPVM_TEST_BACKEND: 'kafka', KAFKA_BROKERS: kafka!.brokers.join(',') },
        place: (_f, hint) => uniqueName(`crash${hint}`),
        open: () => createKafkaLog({ brokers: kafka!.brokers }),
        namespace: (place) => place,
        lifeMs: [200, 4000],
      },
      KILLS,
    );
  }, 1_800_000);
});
