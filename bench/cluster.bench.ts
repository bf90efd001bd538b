// Scale-out: tasks/s of one workflow on 1, 2 and 3 node processes sharing one namespace, per
// broker, in one run; and the extra latency of fetching a block from a peer over
// libp2p/bitswap beside reading it from the local blockstore; and a matchmaker's start after
// many settled offers: from its resume point beside reading the offers stream from 0.
//
//   node bench/cluster.bench.ts [--tasks 500] [--brokers nats,kafka] [--fetches 20] [--offers 5000]
//
// The workflow is the crash tests' one: 10 interleaved chains (task i awaits task i − 10), so
// at most 10 tasks are ready at once and each step of a chain is a round trip through the
// broker (task/ready appended, consumed by some node, receipt appended, folded by the owner,
// next task released). Servers are started like the integration tests start them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CID } from 'multiformats/cid';
import { createKafkaLog } from '../streams/kafka/index.ts';
import { createJetStreamLog } from '../streams/jetstream/index.ts';
import { createHeliaContentStore } from '../processors/content/index.ts';
import { createFileLog } from '../streams/file/index.ts';
import { createMatchmaker, offersStream } from '../processors/cluster/matchmaker.ts';
import { createCostHistory } from '../processors/cluster/cost-history.ts';
import { createFileResumeStore } from '../processors/cluster/resume-point.ts';
import { offerAndAward, readyEvent } from '../test/cluster/offer-records.ts';
import { startKafka, startNats, uniqueName } from '../test/harness/servers.ts';
import { runCluster } from '../test/cluster/cluster-scenario.ts';
import { arg, machine, ms, pct, writeResults } from './lib/report.ts';

const TASKS = Number(arg('tasks', '500'));
const BROKERS = arg('brokers', 'nats,kafka').split(',');
const FETCHES = Number(arg('fetches', '20'));
const OFFERS = Number(arg('offers', '5000'));
const results: Record<string, unknown> = { machine: machine(), tasks: TASKS };

async function curve(
  name: string,
  env: Record<string, string>,
  open: () => ReturnType<typeof createKafkaLog>,
) {
  const rows: Array<{ nodes: number; ms: number; tasksPerSecond: number; shares: string }> = [];
  for (const nodes of [1, 2, 3]) {
    const run = await runCluster({
      env,
      open,
      namespace: uniqueName(`bench${nodes}`),
      nodes,
      tasks: TASKS,
      kill: false,
      seed: 1,
    });
    if (run.ended !== 'workflow/completed') throw new Error(`${name} ${nodes} nodes: ${run.ended}`);
    const shares = [...run.executions].map(([id, n]) => `${id}=${n}`).join(' ');
    rows.push({ nodes, ms: run.ms, tasksPerSecond: (TASKS / run.ms) * 1000, shares });
    console.log(
      `${name}: ${nodes} node(s): ${TASKS} tasks in ${ms(run.ms)} = ${Math.round((TASKS / run.ms) * 1000)} tasks/s (${shares})`,
    );
  }
  results[name] = rows;
}

if (BROKERS.includes('nats')) {
  const nats = await startNats();
  try {
    await curve('JetStream', { IPVM_TEST_BACKEND: 'nats', NATS_URL: nats.url }, () =>
      createJetStreamLog({ servers: nats.url, storage: 'file' }),
    );
  } finally {
    await nats.stop();
  }
}
if (BROKERS.includes('kafka')) {
  const kafka = await startKafka();
  try {
    await curve(
      'Kafka',
      { IPVM_TEST_BACKEND: 'kafka', KAFKA_BROKERS: kafka.brokers.join(',') },
      () => createKafkaLog({ brokers: kafka.brokers }),
    );
  } finally {
    await kafka.stop();
  }
}

// Bitswap: a fresh 200-byte block and a fresh 1 MiB file each time (so nothing is cached), read
// from a connected peer vs read locally on the node that has it.
const base = await mkdtemp(join(tmpdir(), 'ipvm-bench-bitswap-'));
const a = await createHeliaContentStore({ dataDir: join(base, 'a'), network: {} });
const b = await createHeliaContentStore({
  dataDir: join(base, 'b'),
  network: { peers: a.network!.multiaddrs() },
});
try {
  const timings: Record<string, { local: number[]; peer: number[] }> = {
    '200 B': { local: [], peer: [] },
    '1 MiB': { local: [], peer: [] },
  };
  for (let i = 0; i < FETCHES; i++) {
    for (const [label, size] of [
      ['200 B', 200],
      ['1 MiB', 1 << 20],
    ] as const) {
      const bytes = new Uint8Array(size);
      crypto.getRandomValues(bytes.subarray(0, Math.min(size, 65_536)));
      bytes[size - 1] = i;
      const cid: CID = await a.add(bytes);
      let t = performance.now();
      await a.get(cid);
      timings[label]!.local.push(performance.now() - t);
      t = performance.now();
      await b.get(cid);
      timings[label]!.peer.push(performance.now() - t);
    }
  }
  for (const [label, t] of Object.entries(timings)) {
    console.log(
      `bitswap ${label}: peer fetch p50 ${ms(pct(t.peer, 50))} (p90 ${ms(pct(t.peer, 90))}) vs local read p50 ${ms(pct(t.local, 50))}`,
    );
  }
  results.bitswap = timings;
} finally {
  await b.close();
  await a.close();
  await rm(base, { recursive: true, force: true });
}
// Start-up after OFFERS settled offers (offer + award each, on the file log) and one awarded to
// this node without a receipt yet: the time until the read back is over (a place() of the open
// task returns then) and the records read, without a resume point (the first start) and from
// the one the first start saved on close.
{
  const dir = await mkdtemp(join(tmpdir(), 'ipvm-bench-resume-'));
  const log = createFileLog({ dir: join(dir, 'log') });
  const stream = offersStream('b');
  const settled = new Set<string>();
  await log.ensureStreams([{ name: stream, partitions: 1 }]);
  const events = Array.from({ length: OFFERS + 1 }, (_, i) => readyEvent(i, { node: 'n' }));
  for (let i = 0; i < events.length; i += 500) {
    const batch = events.slice(i, i + 500).flatMap((e) => offerAndAward(e, 'n', 'n'));
    await log.append(stream, batch);
  }
  for (const e of events.slice(0, OFFERS)) settled.add(e.instruction.toString());
  const open = events[OFFERS]!;
  const resume = createFileResumeStore(join(dir, 'resume.json'));
  const rows: Array<{ start: string; ms: number; read: number }> = [];
  for (const start of ['from 0 (no resume point)', 'from the resume point']) {
    const t = performance.now();
    const mm = await createMatchmaker({
      log,
      namespace: 'b',
      membership: { nodeId: 'n', owner: () => 'n', live: () => ['n'], onChange: () => () => {} },
      capabilities: () => ({ nodeId: 'n', effectHosts: [], secrets: [] }),
      history: createCostHistory(),
      load: () => ({ running: 0, concurrency: 1 }),
      resume,
    });
    mm.attach({
      run() {},
      refuse: () => Promise.resolve(),
      settled: (e) => settled.has(e.instruction.toString()),
    });
    await mm.place(open); // returns once the stream is read back (the task is offered already)
    const took = performance.now() - t;
    rows.push({ start, ms: took, read: mm.stats().read });
    console.log(
      `matchmaker start after ${OFFERS} settled offers, ${start}: ${ms(took)}, ${mm.stats().read} records read`,
    );
    await mm.close();
  }
  results.resume = rows;
  await log.close();
  await rm(dir, { recursive: true, force: true });
}

writeResults('cluster', {
  title: 'cluster: tasks/s per node count; bitswap fetch vs local read',
  peer: '1 node on the same broker; local blockstore read',
  rows: [],
  ...results,
});
