// Crash safety on Kafka and JetStream: a smoke of 3 kills each in `npm test` (each restart of a
// Kafka consumer waits for the group to rebalance); `npm run test:crash` raises them
// (IPVM_CRASH_KILLS_BROKERS). Kills come after a seeded number of receipts (IPVM_CRASH_SEED).
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createKafkaLog } from '../../streams/kafka/index.ts';
import { createJetStreamLog } from '../../streams/jetstream/index.ts';
import { startKafka, startNats, startOrSkip, uniqueName } from '../harness/servers.ts';
import { cleanup, crashScenario, prepare } from './crash-scenario.ts';

const KILLS = Number(process.env.IPVM_CRASH_KILLS_BROKERS ?? 3);
const nats = await startOrSkip('JetStream', startNats);
const kafka = await startOrSkip('Kafka', startKafka);
let files: Awaited<ReturnType<typeof prepare>>;
beforeAll(async () => {
  files = await prepare(Number(process.env.IPVM_CRASH_TASKS ?? 200));
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
        label: 'JetStream',
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
        label: 'Kafka',
      },
      KILLS,
    );
  }, 1_800_000);
});
