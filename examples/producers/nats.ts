/**
 * A NATS JetStream producer and subscriber for a running node (`ipvm start --backend nats`),
 * with nothing but the @nats-io clients. The node keeps each stream `<ns>.<name>` as the
 * JetStream stream `<ns>_<name>` (dots are not allowed there) with one subject per partition,
 * `<ns>.<name>.<p>`, and the record key in the `Ipvm-Key` header. The producer publishes the
 * workflow file as it is to `<ns>.invocations.0` (any partition does); the subscriber follows
 * `<ns>_pure` (receipts) and `<ns>_invocations` (the workflow's end, or the rejection of the
 * message) with ordered consumers and prints each receipt's output until the workflow is over.
 *
 * ```sh
 * node examples/producers/nats.ts examples/workflows/add-one.json --nats-url nats://127.0.0.1:4222 --namespace ipvm
 * ```
 *
 * Exit code: 0 completed, 1 failed or rejected.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { jetstream } from '@nats-io/jetstream';
import { connect, headers } from '@nats-io/transport-node';
import { createTracker, parseArgs, workflowCid, type Outcome } from './follow.ts';

const { file, flags } = parseArgs(process.argv.slice(2));
const servers = flags['nats-url'] ?? process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const ns = flags.namespace ?? process.env.IPVM_NAMESPACE ?? 'ipvm';
const bytes = readFileSync(file);
const key = randomUUID(); // the node answers a rejection under this key
const tracker = createTracker(key, workflowCid(bytes));

const nc = await connect({ servers });
let outcome: Outcome | undefined;
try {
  const js = jetstream(nc);
  // Subscriber first, from the beginning: a workflow that already ran is found in the log.
  const feeds = await Promise.all(
    [`${ns}_pure`, `${ns}_invocations`].map(async (stream) =>
      (await js.consumers.get(stream)).consume(),
    ),
  );
  const finished = Promise.race(
    feeds.map(async (messages) => {
      for await (const m of messages) {
        const o = tracker.see(m.data);
        if (o !== undefined) return o;
      }
      return new Promise<Outcome>(() => undefined); // stopped: the other feed answers
    }),
  );
  const h = headers();
  h.set('Ipvm-Key', key);
  const ack = await js.publish(`${ns}.invocations.0`, bytes, { headers: h });
  console.log(`sent ${file} to ${ns}.invocations (sequence ${ack.seq}, key ${key})`);
  outcome = await finished;
  for (const messages of feeds) await messages.close();
} finally {
  await nc.close();
}
process.exitCode = outcome === 'completed' ? 0 : 1;
