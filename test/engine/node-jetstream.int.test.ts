// The engine suite on a real nats-server with JetStream.
import { afterAll, describe, it } from 'vitest';
import { createJetStreamLog } from '../../streams/jetstream/index.ts';
import { describeEngine } from '../conformance/engine.suite.ts';
import { startNats, startOrSkip, uniqueName } from '../harness/servers.ts';

const nats = await startOrSkip('JetStream', startNats);
afterAll(async () => {
  await nats?.stop();
});

if (nats === undefined) {
  describe.skip('engine on JetStream (no server)', () => {
    it('needs a NATS server', () => undefined);
  });
} else {
  const servers = nats.url;
  describeEngine('jetstream', () =>
    Promise.resolve({
      open: () => Promise.resolve(createJetStreamLog({ servers, storage: 'file' })),
      namespace: (hint) => uniqueName(`eng${hint}`),
    }),
  );
}
