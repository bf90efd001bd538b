// The Log conformance suite and JetStream specifics against a real nats-server (see
// test/harness/servers.ts for how it is found or started).
import { afterAll, describe, expect, it } from 'vitest';
import { createJetStreamLog } from '../../streams/jetstream/index.ts';
import { MESSAGE_ID_HEADER, type Log } from '../../streams/log.ts';
import { BrokerUnavailableError } from '../../streams/errors.ts';
import { describeLog, type LogFixture } from '../conformance/log.suite.ts';
import { describeBlocks } from '../conformance/blocks.suite.ts';
import { startNats, startOrSkip, uniqueName } from '../harness/servers.ts';

const nats = await startOrSkip('JetStream', startNats);
afterAll(async () => {
  await nats?.stop();
});

if (nats === undefined) {
  describe.skip('JetStream (no server)', () => {
    it('needs a NATS server', () => undefined);
  });
} else {
  const servers = nats.url;
  const fixture = (): Promise<LogFixture> =>
    Promise.resolve({
      open: () => Promise.resolve(createJetStreamLog({ servers, storage: 'memory' })),
      streamName: (hint: string) => uniqueName(`js.${hint}`),
      denseOffsets: false,
    });
  describeLog('jetstream', fixture);
  describeBlocks('jetstream', fixture);

  describe('JetStream log', () => {
    let log: Log;
    afterAll(async () => {
      await log?.close();
    });

    it('de-duplicates by msg-id within the duplicate window', async () => {
      log = createJetStreamLog({ servers, storage: 'memory' });
      const stream = uniqueName('js.dedup');
      await log.ensureStreams([{ name: stream, partitions: 2 }]);
      const record = {
        key: 'k',
        value: new Uint8Array([1]),
        headers: { [MESSAGE_ID_HEADER]: 'id-1' },
      };
      const [first] = await log.append(stream, [record]);
      const [again] = await log.append(stream, [record]);
      expect(again).toEqual(first);
      const all = [];
      for await (const r of log.read(stream)) all.push(r);
      expect(all).toHaveLength(1);
    });

    it('classifies an unreachable server as retryable', async () => {
      const offline = createJetStreamLog({ servers: 'nats://127.0.0.1:1', requestTimeoutMs: 500 });
      const error = await offline.partitions('x').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BrokerUnavailableError);
      expect((error as BrokerUnavailableError).retryable).toBe(true);
      await offline.close();
    });
  });
}
