// Kafka adapter (streams/kafka) beside raw kafkajs, same broker, same run.
//
//   node bench/kafka-log.bench.ts [--records 100000] [--rounds 2]
//
// Uses KAFKA_BROKERS when set (its bench-* topics are left behind: kafkajs clients fail once a
// topic they used is deleted), else starts a throwaway broker like the integration tests do.
// Scenarios (256-byte values, 4 partitions, acks=-1, idempotent producers on both sides):
// - append in batches of 1 000 — raw: producer.send of the same messages;
// - single append awaited one at a time, p50 — raw: producer.send of one message;
// - replay of the topic from the start, including the consumer-group join — raw: a consumer
//   group reading from the beginning, touching each message, until it has seen every record.
// Each figure is the best of --rounds; the order of adapter and raw alternates per round.
// Budget: the adapter within 10 % of raw. This file imports kafkajs itself only because a raw
// baseline has to; nothing else outside streams/kafka does.
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { Kafka, logLevel } from 'kafkajs';
import { createKafkaLog } from '../streams/kafka/index.ts';
import { startKafka } from '../test/harness/servers.ts';

const arg = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const RECORDS = arg('records', 100_000);
const ROUNDS = arg('rounds', 2);
const BATCH = 1000;
const PARTITIONS = 4;
const VALUE = Buffer.alloc(256, 0x61);
const SINGLES = 300;

const server = await startKafka();
const brokers = server.brokers;
const kafka = new Kafka({ clientId: 'bench-raw', brokers, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
const log = createKafkaLog({ brokers });

const p50 = (samples: number[]): number =>
  [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;

async function topic(): Promise<string> {
  const name = `bench-${randomUUID()}`;
  await log.ensureStreams([{ name, partitions: PARTITIONS }]);
  return name;
}

const keys = Array.from({ length: BATCH }, (_, i) => `bafyrmi-key-${i % 128}`);

async function adapterAppend(name: string): Promise<number> {
  const batch = keys.map((key) => ({ key, value: VALUE }));
  const start = performance.now();
  for (let i = 0; i < RECORDS / BATCH; i++) await log.append(name, batch);
  return (RECORDS / (performance.now() - start)) * 1000;
}

async function rawAppend(name: string): Promise<number> {
  const messages = keys.map((key) => ({ key, value: VALUE }));
  const start = performance.now();
  for (let i = 0; i < RECORDS / BATCH; i++)
    await producer.send({ topic: name, acks: -1, messages });
  return (RECORDS / (performance.now() - start)) * 1000;
}

async function adapterSingle(name: string): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < SINGLES; i++) {
    const start = performance.now();
    await log.append(name, [{ key: 'single', value: VALUE }]);
    samples.push(performance.now() - start);
  }
  return p50(samples);
}

async function rawSingle(name: string): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < SINGLES; i++) {
    const start = performance.now();
    await producer.send({ topic: name, acks: -1, messages: [{ key: 'single', value: VALUE }] });
    samples.push(performance.now() - start);
  }
  return p50(samples);
}

async function adapterReplay(name: string): Promise<number> {
  let n = 0;
  const start = performance.now();
  for await (const record of log.read(name)) n += record.partition >= 0 ? 1 : 0;
  if (n !== RECORDS) throw new Error(`adapter replayed ${n} of ${RECORDS}`);
  return (n / (performance.now() - start)) * 1000;
}

async function rawReplay(name: string): Promise<number> {
  const consumer = kafka.consumer({ groupId: `bench-raw-${randomUUID()}`, maxWaitTimeInMs: 200 });
  let n = 0;
  const start = performance.now();
  await consumer.connect();
  await consumer.subscribe({ topics: [name], fromBeginning: true });
  await new Promise<void>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: ({ batch }) => {
        // Touch each message as any consumer would (key, value, offset).
        for (const m of batch.messages)
          if (m.value !== null && m.key !== null && m.offset !== '') n++;
        if (n >= RECORDS) resolve();
        return Promise.resolve();
      },
    });
  });
  const rate = (n / (performance.now() - start)) * 1000;
  await consumer.disconnect();
  return rate;
}

try {
  await admin.connect();
  await producer.connect();
  const best = {
    append: 0,
    rawAppend: 0,
    single: Infinity,
    rawSingle: Infinity,
    replay: 0,
    rawReplay: 0,
  };
  for (let round = 0; round < ROUNDS; round++) {
    const a = await topic();
    const r = await topic();
    // Alternate which side goes first: the broker warms up as it runs.
    const adapterFirst = round % 2 === 1;
    const pair = async (
      x: () => Promise<number>,
      y: () => Promise<number>,
    ): Promise<[number, number]> => {
      if (adapterFirst) return [await x(), await y()];
      const second = await y();
      return [await x(), second];
    };
    const [append, rawAppendRate] = await pair(
      () => adapterAppend(a),
      () => rawAppend(r),
    );
    best.append = Math.max(best.append, append);
    best.rawAppend = Math.max(best.rawAppend, rawAppendRate);
    const [replay, rawReplayRate] = await pair(
      () => adapterReplay(a),
      () => rawReplay(r),
    );
    best.replay = Math.max(best.replay, replay);
    best.rawReplay = Math.max(best.rawReplay, rawReplayRate);
    const s = await topic();
    const [single, rawSingleP50] = await pair(
      () => adapterSingle(s),
      () => rawSingle(s),
    );
    best.single = Math.min(best.single, single);
    best.rawSingle = Math.min(best.rawSingle, rawSingleP50);
  }
  const rate = (n: number): string => `${Math.round(n).toLocaleString('en-US')} /s`;
  const ms = (n: number): string => `${n.toFixed(2)} ms`;
  const pct = (a: number, b: number): string => `${((a / b) * 100).toFixed(0)} %`;
  const rows: string[][] = [
    [
      'append 256 B, batches of 1000',
      rate(best.append),
      rate(best.rawAppend),
      pct(best.append, best.rawAppend),
    ],
    ['single append p50', ms(best.single), ms(best.rawSingle), pct(best.rawSingle, best.single)],
    [
      'replay from the start (incl. group join)',
      rate(best.replay),
      rate(best.rawReplay),
      pct(best.replay, best.rawReplay),
    ],
  ];
  const widths = [42, 16, 16, 14];
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  console.log(
    `Kafka (${server.origin} broker), ${RECORDS} records, ${PARTITIONS} partitions, best of ${ROUNDS}; ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  console.log(line(['scenario', 'adapter', 'raw kafkajs', 'adapter/raw']));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of rows) console.log(line(row));
} finally {
  await log.close();
  await producer.disconnect().catch(() => undefined);
  await admin.disconnect().catch(() => undefined);
  await server.stop();
}
