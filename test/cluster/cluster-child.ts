// A cluster node process for the scale-out tests. Usage:
//   cluster-child.ts <namespace> <engine.wasm> [<workflow.json to submit>]
// Backend from env IPVM_TEST_BACKEND (kafka | nats) with KAFKA_BROKERS / NATS_URL, node id
// from IPVM_NODE_ID, a delay before every task from IPVM_TEST_DELAY_MS, the bid window from
// IPVM_BID_WINDOW_MS, allowed effect hosts (what `net:` needs match) from IPVM_ALLOW_NET. Joins the namespace's cluster, runs tasks until SIGTERM, and prints
// `UP <id>` then `MEMBERS <n>` whenever its view of the live nodes changes.
import { readFile } from 'node:fs/promises';
import type { Log } from '../../streams/log.ts';
import { createKafkaLog } from '../../streams/kafka/index.ts';
import { createJetStreamLog } from '../../streams/jetstream/index.ts';
import { createNode } from '../../processors/engine/node.ts';
import type { TaskRunner } from '../../processors/engine/execute-tasks.ts';
import {
  countingRunner,
  createCostHistory,
  createMatchmaker,
  joinCluster,
} from '../../processors/cluster/index.ts';
import { createCoreRunner } from '../harness/core-runner.ts';

const [namespace, wasm, submit] = process.argv.slice(2) as [string, string, string | undefined];
const backend = process.env.IPVM_TEST_BACKEND;
const nodeId = process.env.IPVM_NODE_ID ?? `node-${process.pid}`;
const concurrency = 8;
const core = await createCoreRunner(new Uint8Array(await readFile(wasm)));
// IPVM_TEST_DELAY_MS holds every task that long first, so a test can kill a node mid-task.
const delayMs = Number(process.env.IPVM_TEST_DELAY_MS ?? 0);
const runner: TaskRunner =
  delayMs === 0
    ? core
    : {
        execute: (request, options) =>
          new Promise((resolve) => setTimeout(resolve, delayMs)).then(() =>
            core.execute(request, options),
          ),
      };
const log: Log =
  backend === 'kafka'
    ? createKafkaLog({ brokers: process.env.KAFKA_BROKERS!.split(','), sessionTimeoutMs: 6_000 })
    : createJetStreamLog({
        servers: process.env.NATS_URL!,
        storage: 'file',
        ackWaitMs: Number(process.env.IPVM_ACK_WAIT_MS ?? 4_000),
      });
const counted = countingRunner(runner);
const effectHosts = (process.env.IPVM_ALLOW_NET ?? '').split(',').filter((h) => h !== '');
const membership = await joinCluster({
  log,
  namespace,
  nodeId,
  heartbeatMs: 500,
  announce: () => ({
    addrs: [],
    load: { running: counted.running(), concurrency },
    modules: 1,
    capabilities: { effectHosts, secrets: [] },
    lag: null,
  }),
  onError: (e) => process.stderr.write(`membership: ${e.message}: ${String(e.cause)}\n`),
});
const placement = await createMatchmaker({
  log,
  namespace,
  membership,
  capabilities: () => ({ nodeId, effectHosts, secrets: [] }),
  history: createCostHistory(),
  load: () => ({ running: counted.running(), concurrency }),
  // Long by default: the owner decides as soon as every live node answered, so the window only
  // matters when one is silent. A short one made a loaded machine's slow answer a "no answer"
  // in tests that check every node's reason or the tie between two bids.
  bidWindowMs: Number(process.env.IPVM_BID_WINDOW_MS ?? 10_000),
  onError: (e) => process.stderr.write(`matchmaking: ${e.message}: ${String(e.cause)}\n`),
});
const node = await createNode({
  log,
  runner: counted.runner,
  nodeId,
  topology: { namespace },
  concurrency,
  commitIntervalMs: 20,
  cluster: membership,
  placement,
  onProgress: (e) => {
    if (e.type === 'node:error') process.stderr.write(`node error: ${String(e.error)}\n`);
  },
});
process.stdout.write(`UP ${nodeId}\nMEMBERS ${membership.live().length}\n`);
membership.onChange(() => process.stdout.write(`MEMBERS ${membership.live().length}\n`));
if (submit !== undefined) await node.submit(new Uint8Array(await readFile(submit)));
await new Promise<void>((resolve) => process.once('SIGTERM', () => resolve()));
await node.close();
await placement.close();
await membership.close();
await log.close();
process.exit(0);
