/**
 * A Kafka producer and subscriber for a running node (`ipvm start --backend kafka`), with
 * nothing but kafkajs: the producer writes the workflow file as it is to
 * `<namespace>.invocations`; the subscriber follows `<namespace>.pure` (receipts) and
 * `<namespace>.invocations` (the workflow's end, or the rejection of the message) and prints
 * each receipt's output until the workflow is over.
 *
 * ```sh
 * node examples/producers/kafka.ts examples/workflows/add-one.json --brokers 127.0.0.1:9092 --namespace ipvm
 * ```
 *
 * Exit code: 0 completed, 1 failed or rejected, 2 bad usage.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { createTracker, parseArgs, workflowCid, type Outcome } from './follow.ts';

const { file, flags } = parseArgs(process.argv.slice(2));
const brokers = (flags.brokers ?? process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const ns = flags.namespace ?? process.env.IPVM_NAMESPACE ?? 'ipvm';
const bytes = readFileSync(file);
const key = randomUUID(); // the node answers a rejection under this key
const tracker = createTracker(key, workflowCid(bytes));

const kafka = new Kafka({ clientId: 'ipvm-example', brokers, logLevel: logLevel.NOTHING });
const consumer = kafka.consumer({ groupId: `ipvm-example-${key}` });
const producer = kafka.producer();
let outcome: Outcome | undefined;
try {
  // Subscriber first, from the beginning: a workflow that already ran is found in the log.
  await consumer.connect();
  await consumer.subscribe({ topics: [`${ns}.pure`, `${ns}.invocations`], fromBeginning: true });
  const finished = new Promise<Outcome>((resolve, reject) => {
    consumer
      .run({
        eachMessage: ({ message }) => {
          const o = message.value === null ? undefined : tracker.see(message.value);
          if (o !== undefined) resolve(o);
          return Promise.resolve();
        },
      })
      .catch(reject);
  });
  await producer.connect();
  const [sent] = await producer.send({
    topic: `${ns}.invocations`,
    messages: [{ key, value: bytes }],
  });
  console.log(`sent ${file} to ${ns}.invocations (partition ${sent?.partition}, key ${key})`);
  outcome = await finished;
} finally {
  await producer.disconnect();
  await consumer.disconnect();
}
process.exitCode = outcome === 'completed' ? 0 : 1;
