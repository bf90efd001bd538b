// The Log conformance suite and Kafka specifics against a real broker (see
// test/harness/servers.ts for how it is found or started).
import { afterAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { createKafkaLog } from '../../streams/kafka/index.ts';
import { BrokerUnavailableError } from '../../streams/errors.ts';
import { partitionForKey } from '../../streams/log.ts';
import { describeLog, type LogFixture } from '../conformance/log.suite.ts';
import { describeBlocks } from '../conformance/blocks.suite.ts';
import { startKafka, startOrSkip, uniqueName } from '../harness/servers.ts';

const kafka = await startOrSkip('Kafka', startKafka);
afterAll(async () => {
  await kafka?.stop();
});

if (kafka === undefined) {
  describe.skip('Kafka (no broker)', () => {
    it('needs a Kafka broker', () => undefined);
  });
} else {
  const brokers = kafka.brokers;
  const fixture = (): Promise<LogFixture> =>
    Promise.resolve({
      open: () => Promise.resolve(createKafkaLog({ brokers })),
      streamName: (hint: string) => uniqueName(`kafka.${hint}`),
      denseOffsets: true,
    });
  describeLog('kafka', fixture);
  describeBlocks('kafka', fixture);

  describe('Kafka log', () => {
    it('places keys where the default partitioner of Kafka clients does', async () => {
      await using log = createKafkaLog({ brokers });
      const stream = uniqueName('kafka.placement');
      await log.ensureStreams([{ name: stream, partitions: 6 }]);
      const keys = ['bafyrmia', 'bafyrmib', 'x', 'a much longer key with spaces'];
      const results = await log.append(
        stream,
        keys.map((key) => ({ key, value: new Uint8Array([1]) })),
      );
      expect(results.map((r) => r.partition)).toEqual(keys.map((k) => partitionForKey(k, 6)));
    });

    it('resumes a consumer from positions committed under its bare name (before groups were per stream)', async () => {
      await using log = createKafkaLog({ brokers });
      const stream = uniqueName('kafka.bare-positions');
      const consumer = uniqueName('kafka-bare-group');
      await log.ensureStreams([{ name: stream, partitions: 1 }]);
      await log.append(
        stream,
        Array.from({ length: 6 }, (_, i) => ({ key: 'k', value: new Uint8Array([i]) })),
      );
      const admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      await admin.setOffsets({
        groupId: consumer,
        topic: stream,
        partitions: [{ partition: 0, offset: '4' }],
      });
      await admin.disconnect();
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), 20_000);
      const seen: number[] = [];
      for await (const r of log.consume(stream, { consumer, signal: controller.signal })) {
        seen.push(r.offset);
        if (seen.length === 2) controller.abort();
      }
      clearTimeout(timer);
      expect(seen).toEqual([4, 5]);
      expect(await log.committed(consumer, stream)).toEqual({ 0: 4 });
    });

    it('classifies an unreachable broker as retryable', async () => {
      const offline = createKafkaLog({
        brokers: ['127.0.0.1:1'],
        retry: { retries: 0 },
        connectionTimeoutMs: 300,
      });
      const error = await offline.partitions('x').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BrokerUnavailableError);
      expect((error as BrokerUnavailableError).retryable).toBe(true);
      await offline.close();
    });
  });
}
