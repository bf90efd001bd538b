// Scale-out on Kafka and JetStream: node *processes* on one namespace share one workflow,
// every instruction gets exactly one receipt with the right output, every node executes a
// share, and a node SIGKILLed mid-run (after a seeded number of receipts) loses nothing.
// Default: 3 nodes, 200 tasks, JetStream. IPVM_CLUSTER_FULL=1 (npm run test:cluster): 1 000
// tasks on JetStream and Kafka, plus a run without a kill. IPVM_CLUSTER_SEED repeats a run.
import { afterAll, describe, expect, it } from 'vitest';
import { createKafkaLog, groupOf } from '../../streams/kafka/index.ts';
import { createTopology } from '../../streams/topology.ts';
import { EXECUTOR } from '../../processors/engine/executor-stage.ts';
import { waitForGroup } from './kafka-group.ts';
import { createJetStreamLog } from '../../streams/jetstream/index.ts';
import { startKafka, startNats, startOrSkip, uniqueName } from '../harness/servers.ts';
import {
  expectedOutput,
  runCluster,
  type ClusterOptions,
  type ClusterRun,
} from './cluster-scenario.ts';

const FULL = process.env.IPVM_CLUSTER_FULL === '1';
const TASKS = Number(process.env.IPVM_CLUSTER_TASKS ?? (FULL ? 1000 : 200));
const NODES = Number(process.env.IPVM_CLUSTER_NODES ?? 3);
const SEED = Number(process.env.IPVM_CLUSTER_SEED ?? Date.now() % 1_000_000);

// The default suite runs JetStream only (its server starts in a second); Kafka's KRaft broker
// takes most of a minute to start, so it runs with npm run test:cluster.
const BACKENDS = (process.env.IPVM_CLUSTER_BACKENDS ?? (FULL ? 'nats,kafka' : 'nats')).split(',');

const nats = BACKENDS.includes('nats') ? await startOrSkip('JetStream', startNats) : undefined;
const kafka = BACKENDS.includes('kafka') ? await startOrSkip('Kafka', startKafka) : undefined;
afterAll(async () => {
  await nats?.stop();
  await kafka?.stop();
});

function check(run: ClusterRun, label: string): void {
  const shares = [...run.executions].map(([id, n]) => `${id}=${n}`).join(' ');
  console.log(
    `${label}: seed ${SEED}, ${run.instructions.length} tasks in ${Math.round(run.ms)} ms, ` +
      `executions ${shares}, killed ${run.killed === null ? 'none' : `${run.killed.node} after ${run.killed.afterReceipts} receipts`}`,
  );
  const changes = [...run.viewChanges].filter(([, c]) => c.length > 0);
  if (changes.length > 0) console.log(`${label}: views changed during the run:`, changes);
  if (run.duplicates.size > 0) console.log(`${label}: duplicate receipts:`, [...run.duplicates]);
  expect(run.ended).toBe('workflow/completed');
  const lost = run.instructions.filter((cid) => !run.records.has(cid));
  const duplicated = run.instructions.filter((cid) => run.records.get(cid)! > 1);
  const conflicting = run.instructions.filter((cid) => run.distinct.get(cid)!.size !== 1);
  expect({
    lost: lost.length,
    duplicated: duplicated.length,
    conflicting: conflicting.length,
  }).toEqual({ lost: 0, duplicated: 0, conflicting: 0 });
  run.instructions.forEach((cid, i) => {
    expect(run.outputs.get(cid), `output of task ${i}`).toEqual(['ok', expectedOutput(i)]);
  });
}

function scenario(
  name: string,
  env: () => Record<string, string>,
  open: () => ClusterOptions['open'],
  executorsReady?: ClusterOptions['executorsReady'],
): void {
  if (FULL) {
    it(`${NODES} nodes share ${TASKS} tasks`, async () => {
      const run = await runCluster({
        env: env(),
        open: open(),
        namespace: uniqueName('cluster'),
        nodes: NODES,
        tasks: TASKS,
        kill: false,
        seed: SEED,
        executorsReady,
      });
      check(run, `${name} (no kill)`);
      for (let i = 0; i < NODES; i++)
        expect(run.executions.get(`node-${i}`) ?? 0, `node-${i} executed`).toBeGreaterThan(0);
    }, 600_000);
  }
  it(`${NODES} nodes, one SIGKILLed mid-run: ${TASKS} tasks, 0 lost, 0 duplicated`, async () => {
    const run = await runCluster({
      env: env(),
      open: open(),
      namespace: uniqueName('cluster'),
      nodes: NODES,
      tasks: TASKS,
      kill: true,
      seed: SEED,
      executorsReady,
    });
    check(run, name);
    expect(run.killed, 'a node was killed').not.toBeNull();
    for (let i = 0; i < NODES; i++) {
      const id = `node-${i}`;
      if (id !== run.killed!.node)
        expect(run.executions.get(id) ?? 0, `${id} executed`).toBeGreaterThan(0);
    }
  }, 600_000);
}

describe.skipIf(nats === undefined)('cluster on JetStream', () => {
  scenario(
    'JetStream',
    () => ({ IPVM_TEST_BACKEND: 'nats', NATS_URL: nats!.url }),
    () => () => createJetStreamLog({ servers: nats!.url, storage: 'file' }),
  );
});

describe.skipIf(kafka === undefined)('cluster on Kafka', () => {
  scenario(
    'Kafka',
    () => ({ IPVM_TEST_BACKEND: 'kafka', KAFKA_BROKERS: kafka!.brokers.join(',') }),
    () => () => createKafkaLog({ brokers: kafka!.brokers }),
    // Every node in the executors' group before the workflow: each then takes a share.
    (namespace, nodes) =>
      waitForGroup(
        kafka!.brokers,
        groupOf(EXECUTOR, createTopology({ namespace }).name('invocations')),
        createTopology({ namespace }).name('invocations'),
        nodes,
      ),
  );
});
