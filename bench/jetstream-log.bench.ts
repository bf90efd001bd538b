// JetStream adapter (streams/jetstream) beside the raw @nats-io clients, same server, same run.
//
//   node bench/jetstream-log.bench.ts [--records 30000] [--rounds 2]
//
// Uses NATS_URL when set, else starts nats-server like the integration tests do.
// Scenarios (256-byte values, 4 partitions, file storage):
// - append in batches of 1 000 — raw: 1 000 concurrent js.publish calls with a key header;
// - single append awaited one at a time, p50 — raw: one js.publish;
// - replay of the stream from the start — raw: an ordered consumer reading every message.
// Budget: the adapter within 10 % of raw. This file imports the NATS clients itself only because
// a raw baseline has to; nothing else outside streams/jetstream does.
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { connect, headers } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { createJetStreamLog } from '../streams/jetstream/index.ts';
import { startNats } from '../test/harness/servers.ts';

const arg = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const RECORDS = arg('records', 30_000);
const ROUNDS = arg('rounds', 2);
const BATCH = 1000;
const PARTITIONS = 4;
const VALUE = new Uint8Array(256).fill(0x61);
const SINGLES = 300;

const server = await startNats();
const nc = await connect({ servers: server.url });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
const log = createJetStreamLog({ servers: server.url });

const p50 = (samples: number[]): number =>
  [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
const keys = Array.from({ length: BATCH }, (_, i) => `bafyrmi-key-${i % 128}`);

async function stream(): Promise<string> {
  const name = `bench-${randomUUID()}`;
  await log.ensureStreams([{ name, partitions: PARTITIONS }]);
  return name;
}

async function adapterAppend(name: string): Promise<number> {
  const batch = keys.map((key) => ({ key, value: VALUE }));
  const start = performance.now();
  for (let i = 0; i < RECORDS / BATCH; i++) await log.append(name, batch);
  return (RECORDS / (performance.now() - start)) * 1000;
}

async function rawAppend(name: string): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < RECORDS / BATCH; i++) {
    await Promise.all(
      keys.map((key, k) => {
        const h = headers();
        h.set('Ipvm-Key', key);
        return js.publish(`${name}.${k % PARTITIONS}`, VALUE, { headers: h });
      }),
    );
  }
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
    const h = headers();
    h.set('Ipvm-Key', 'single');
    await js.publish(`${name}.0`, VALUE, { headers: h });
    samples.push(performance.now() - start);
  }
  return p50(samples);
}

async function adapterReplay(name: string): Promise<number> {
  let n = 0;
  const start = performance.now();
  for await (const record of log.read(name)) n += record.value.byteLength > 0 ? 1 : 0;
  if (n !== RECORDS) throw new Error(`adapter replayed ${n} of ${RECORDS}`);
  return (n / (performance.now() - start)) * 1000;
}

async function rawReplay(name: string): Promise<number> {
  let n = 0;
  const start = performance.now();
  const consumer = await js.consumers.get(name.replaceAll('.', '_'), {
    deliver_policy: DeliverPolicy.All,
  });
  const messages = await consumer.consume({ max_messages: 512 });
  for await (const m of messages) {
    if (m.data.byteLength > 0 && m.headers?.get('Ipvm-Key') !== undefined) n++;
    if (n >= RECORDS) break;
  }
  await messages.close();
  return (n / (performance.now() - start)) * 1000;
}

try {
  const best = {
    append: 0,
    rawAppend: 0,
    single: Infinity,
    rawSingle: Infinity,
    replay: 0,
    rawReplay: 0,
  };
  for (let round = 0; round < ROUNDS; round++) {
    const adapterFirst = round % 2 === 1;
    const pair = async (
      x: () => Promise<number>,
      y: () => Promise<number>,
    ): Promise<[number, number]> => {
      if (adapterFirst) return [await x(), await y()];
      const second = await y();
      return [await x(), second];
    };
    const a = await stream();
    const r = await stream();
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
    const s = await stream();
    const [single, rawSingleP50] = await pair(
      () => adapterSingle(s),
      () => rawSingle(s),
    );
    best.single = Math.min(best.single, single);
    best.rawSingle = Math.min(best.rawSingle, rawSingleP50);
    for (const name of [a, r, s])
      await jsm.streams.delete(name.replaceAll('.', '_')).catch(() => false);
  }
  const rate = (n: number): string => `${Math.round(n).toLocaleString('en-US')} /s`;
  const ms = (n: number): string => `${n.toFixed(2)} ms`;
  const pct = (x: number, y: number): string => `${((x / y) * 100).toFixed(0)} %`;
  const rows: string[][] = [
    [
      'append 256 B, batches of 1000',
      rate(best.append),
      rate(best.rawAppend),
      pct(best.append, best.rawAppend),
    ],
    ['single append p50', ms(best.single), ms(best.rawSingle), pct(best.rawSingle, best.single)],
    [
      'replay from the start',
      rate(best.replay),
      rate(best.rawReplay),
      pct(best.replay, best.rawReplay),
    ],
  ];
  const widths = [32, 16, 16, 14];
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
  console.log(
    `JetStream (${server.origin} server), ${RECORDS} records, ${PARTITIONS} partitions, best of ${ROUNDS}; ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
  );
  console.log(line(['scenario', 'adapter', 'raw @nats-io', 'adapter/raw']));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of rows) console.log(line(row));
} finally {
  await log.close();
  await nc.drain().catch(() => undefined);
  await server.stop();
}
