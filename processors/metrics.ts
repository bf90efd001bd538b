/**
 * The node's metrics, in Prometheus form (prom-client). This is the only module that imports
 * prom-client; the API serves {@link NodeMetrics.render} on `GET /metrics` and
 * {@link NodeMetrics.homestar} as the result of the JSON-RPC `metrics` method.
 *
 * | metric | type | what |
 * |---|---|---|
 * | `ipvm_tasks_executed_total{outcome}` | counter | tasks this node ran (`ok` / `error`) |
 * | `ipvm_tasks_failed_total` | counter | tasks this node ran that ended in an error receipt |
 * | `ipvm_tasks_replayed_total` | counter | receipts answered from the memo instead of running (memo hits) |
 * | `ipvm_task_retries_total` | counter | retryable failures retried by the executor |
 * | `ipvm_fuel_consumed_total` | counter | Wasm fuel burnt by executed tasks |
 * | `ipvm_task_duration_seconds` | histogram | wall time of executed tasks |
 * | `ipvm_receipts_total{replayed,outcome}` | counter | receipts seen (computed ones on the receipt streams, replayed ones on `invocations`) |
 * | `ipvm_workflows_ended_total{status}` | counter | workflows that ended (`completed` / `failed`) |
 * | `ipvm_dead_letters_total` | counter | records sent to `dead-letter` |
 * | `ipvm_memo_hit_ratio` | gauge | replayed receipts / all receipts seen, since start |
 * | `ipvm_memo_entries` | gauge | instructions in the in-process memo |
 * | `ipvm_memo_bytes{where}` | gauge | the memo's packed receipts: in `memory`, or in the spill `file` (`<data dir>/cache`) |
 * | `ipvm_history_bytes{where}` | gauge | all a node keeps of every workflow and instruction it has seen (receipts, ends, their CIDs and the numbers kept by them), in `memory` or in the spill `file`: what grows with its history |
 * | `ipvm_consumer_lag_records{consumer,stream}` | gauge | records a consumer has yet to process |
 * | `ipvm_log_commits_total` | counter | group commits of the embedded file log: each acknowledges every append made while the one before it was on the disk |
 * | `ipvm_log_committed_records_total` | counter | records those group commits acknowledged (÷ commits: records per commit) |
 * | `ipvm_log_sync_seconds_total` | counter | their syncs' time, from issued to seen (÷ commits: the mean commit wait; 0 unless `fsync: batch`) |
 *
 * @example
 * ```ts
 * const metrics = createNodeMetrics({ lag: () => consumerLag(log, 'executor', 'ipvm.invocations') });
 * const node = await createNode({ log, runner, onProgress: metrics.onProgress });
 * const detach = metrics.attach(node);
 * process.stdout.write(await metrics.render());
 * ```
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CommitStats, Log } from '../streams/log.ts';
import type { ReceiptEvent } from '../schemas/events.ts';
import type { HeldBytes, IpvmNode, NodeProgress } from './engine/node.ts';
import type { Memo } from './engine/memo.ts';
import { sumHeld } from './engine/key-index.ts';

/** Lag of one consumer on one stream. */
export interface ConsumerLag {
  /** Consumer name (e.g. `executor`). */
  consumer: string;
  /** Full stream name. */
  stream: string;
  /** Records appended but not yet committed by the consumer, summed over partitions. */
  records: number;
}

/** Construction options of {@link createNodeMetrics}. */
export interface NodeMetricsInit {
  /** Also collect Node's process metrics (CPU, memory, event loop lag). @default false */
  processMetrics?: boolean;
  /** Computes consumer lag at scrape time; omitted: the lag gauge stays empty. */
  lag?: () => Promise<ConsumerLag[]>;
  /**
   * The log's group-commit counters at scrape time (`Log.commitStats`: the file log). Omitted,
   * the `ipvm_log_*` counters are not registered; until it returns counters they read 0.
   */
  commits?: () => CommitStats | undefined;
  /** Labels added to every metric (e.g. `{ node: nodeId }`). */
  defaultLabels?: Record<string, string>;
}

/** One metric family in Homestar's JSON shape (the result of its `metrics` method). */
export interface HomestarMetricFamily {
  /** Homestar knows gauges, histograms and summaries; counters are reported as gauges. */
  metric_type: 'gauge' | 'histogram' | 'summary';
  metric_name: string;
  help: string;
  data: Array<
    | { type: 'metric'; labels: Record<string, string> | null; value: string }
    | {
        type: 'histogram';
        labels: Record<string, string> | null;
        buckets: Record<string, string>;
        count: string;
        sum: string;
      }
  >;
}

/** The node's metrics. */
export interface NodeMetrics {
  /** Feed for the node's `onProgress` option (executed, failed, fuel, latency, retries). */
  readonly onProgress: (event: NodeProgress) => void;
  /** Counts one receipt seen on the receipt streams. */
  onReceipt(event: ReceiptEvent): void;
  /**
   * Counts receipts answered from the memo without a receipt event: a workflow re-run whose
   * receipts were already written for it ends at once, and its receipts are served from the
   * memo (by the API or `ipvm run`).
   */
  onReplayedFromMemo(count: number): void;
  /**
   * Follows a node's receipts and workflow ends, and reads its memo size at scrape time.
   * @returns a function that stops following.
   */
  attach(node: IpvmNode): () => void;
  /** The Prometheus text exposition. */
  render(): Promise<string>;
  /** Content type of {@link NodeMetrics.render}'s output. */
  readonly contentType: string;
  /** The metrics in Homestar's JSON shape: `{ metrics: [...] }`. */
  homestar(): Promise<{ metrics: HomestarMetricFamily[] }>;
}

const DURATION_BUCKETS = [
  0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Creates a registry with the node's metrics. Each call has its own registry (no globals). */
export function createNodeMetrics(init: NodeMetricsInit = {}): NodeMetrics {
  const registry = new Registry();
  if (init.defaultLabels !== undefined) registry.setDefaultLabels(init.defaultLabels);
  if (init.processMetrics === true) collectDefaultMetrics({ register: registry, prefix: 'ipvm_' });
  const registers = [registry];
  // Receipts seen since start, for the hit ratio (all receipts, whichever node wrote them).
  let receipts = 0;
  let replayed = 0;
  const memos = new Set<Memo>();
  const nodes = new Set<IpvmNode>();

  const executedTotal = new Counter({
    name: 'ipvm_tasks_executed_total',
    help: 'Tasks this node executed',
    labelNames: ['outcome'] as const,
    registers,
  });
  const failedTotal = new Counter({
    name: 'ipvm_tasks_failed_total',
    help: 'Executed tasks that ended in an error receipt',
    registers,
  });
  const replayedTotal = new Counter({
    name: 'ipvm_tasks_replayed_total',
    help: 'Tasks answered from the memo instead of running',
    registers,
  });
  const retriesTotal = new Counter({
    name: 'ipvm_task_retries_total',
    help: 'Retryable task failures retried by the executor',
    registers,
  });
  const fuelTotal = new Counter({
    name: 'ipvm_fuel_consumed_total',
    help: 'Wasm fuel consumed by executed tasks',
    registers,
  });
  const duration = new Histogram({
    name: 'ipvm_task_duration_seconds',
    help: 'Wall time of executed tasks',
    buckets: DURATION_BUCKETS,
    registers,
  });
  const receiptsTotal = new Counter({
    name: 'ipvm_receipts_total',
    help: 'Receipts seen, computed or replayed from the memo',
    labelNames: ['replayed', 'outcome'] as const,
    registers,
  });
  const workflowsTotal = new Counter({
    name: 'ipvm_workflows_ended_total',
    help: 'Workflows that ended',
    labelNames: ['status'] as const,
    registers,
  });
  const deadLettersTotal = new Counter({
    name: 'ipvm_dead_letters_total',
    help: 'Records sent to the dead-letter stream',
    registers,
  });
  new Gauge({
    name: 'ipvm_memo_hit_ratio',
    help: 'Share of receipts since start that were answered from the memo',
    registers,
    collect() {
      this.set(receipts === 0 ? 0 : replayed / receipts);
    },
  });
  new Gauge({
    name: 'ipvm_memo_entries',
    help: 'Instructions in the in-process memo',
    registers,
    collect() {
      let n = 0;
      for (const memo of memos) n += memo.size;
      this.set(n);
    },
  });
  /** A gauge of bytes by where they are kept: `memory`, or the spill `file`. */
  const bytesByWhere = (name: string, help: string, held: () => HeldBytes): void => {
    new Gauge({
      name,
      help,
      labelNames: ['where'] as const,
      registers,
      collect() {
        const { memory, file } = held();
        this.set({ where: 'memory' }, memory);
        this.set({ where: 'file' }, file);
      },
    });
  };
  bytesByWhere(
    'ipvm_memo_bytes',
    "The memo's packed receipts, by where they are: in memory or in the spill file",
    () => sumHeld(Array.from(memos, (m) => ({ memory: m.residentBytes, file: m.spilledBytes }))),
  );
  bytesByWhere(
    'ipvm_history_bytes',
    'What the node keeps of every workflow and instruction it has seen, by where: in memory or in the spill file',
    () => sumHeld(Array.from(nodes, (n) => n.history())),
  );
  // The log's own counters, read at scrape time.
  const commits = init.commits;
  const commitCounter = (name: string, help: string, of: (s: CommitStats) => number): void => {
    if (commits === undefined) return;
    new Counter({
      name,
      help,
      registers,
      collect() {
        const stats = commits();
        if (stats === undefined) return;
        this.reset();
        this.inc(of(stats));
      },
    });
  };
  commitCounter(
    'ipvm_log_commits_total',
    'Group commits of the embedded log (each acknowledges the appends made while the previous one was on the disk)',
    (s) => s.commits,
  );
  commitCounter(
    'ipvm_log_committed_records_total',
    'Records acknowledged by the group commits of the embedded log',
    (s) => s.records,
  );
  commitCounter(
    'ipvm_log_sync_seconds_total',
    'Time the group commits of the embedded log waited for their syncs, from issued to seen',
    (s) => s.syncSeconds,
  );
  const lag = init.lag;
  new Gauge({
    name: 'ipvm_consumer_lag_records',
    help: 'Records appended to a stream that a consumer has not processed yet',
    labelNames: ['consumer', 'stream'] as const,
    registers,
    async collect() {
      if (lag === undefined) return;
      this.reset();
      for (const l of await lag()) this.set({ consumer: l.consumer, stream: l.stream }, l.records);
    },
  });

  const onProgress = (event: NodeProgress): void => {
    switch (event.type) {
      case 'execute:ran':
        executedTotal.inc({ outcome: event.ok ? 'ok' : 'error' });
        if (!event.ok) failedTotal.inc();
        fuelTotal.inc(event.fuel);
        duration.observe(event.durationMs / 1000);
        break;
      case 'execute:retry':
        retriesTotal.inc();
        break;
      case 'node:dead-letter':
        deadLettersTotal.inc();
        break;
      default:
        break;
    }
  };

  const onReceipt = (event: ReceiptEvent): void => {
    receiptsTotal.inc({ replayed: String(event.replayed), outcome: event.body.out[0] });
    receipts++;
    if (event.replayed) {
      replayed++;
      replayedTotal.inc();
    }
  };

  return {
    onProgress,
    onReceipt,
    onReplayedFromMemo(count) {
      if (count <= 0) return;
      receipts += count;
      replayed += count;
      replayedTotal.inc(count);
    },
    attach(node) {
      const memo = node.memo;
      memos.add(memo);
      nodes.add(node);
      const receiptSub = node.receipts().subscribe(onReceipt);
      const ends = node
        .ends()
        .subscribe((e) =>
          workflowsTotal.inc({ status: e.type === 'workflow/completed' ? 'completed' : 'failed' }),
        );
      return () => {
        memos.delete(memo);
        nodes.delete(node);
        receiptSub.unsubscribe();
        ends.unsubscribe();
      };
    },
    render: () => registry.metrics(),
    contentType: registry.contentType,
    async homestar() {
      const families = await registry.getMetricsAsJSON();
      return { metrics: families.map(toHomestar) };
    },
  };
}

type JsonFamily = Awaited<ReturnType<Registry['getMetricsAsJSON']>>[number];

function labelsOf(
  labels: Record<string, string | number | undefined>,
): Record<string, string> | null {
  const entries = Object.entries(labels).filter(([, v]) => v !== undefined);
  return entries.length === 0 ? null : Object.fromEntries(entries.map(([k, v]) => [k, String(v)]));
}

function toHomestar(family: JsonFamily): HomestarMetricFamily {
  const type = String(family.type);
  if (type !== 'histogram') {
    return {
      metric_type: 'gauge',
      metric_name: family.name,
      help: family.help,
      data: family.values.map((v) => ({
        type: 'metric' as const,
        labels: labelsOf(v.labels),
        value: String(v.value),
      })),
    };
  }
  // prom-client lists a histogram as samples named *_bucket (with `le`), *_sum and *_count,
  // per label set: regroup them per label set, as Homestar does.
  const groups = new Map<
    string,
    {
      labels: Record<string, string> | null;
      buckets: Record<string, string>;
      count: string;
      sum: string;
    }
  >();
  for (const v of family.values as Array<{
    value: number;
    labels: Record<string, string | number>;
    metricName?: string;
  }>) {
    const { le, ...rest } = v.labels;
    const labels = labelsOf(rest);
    const key = JSON.stringify(labels);
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = { labels, buckets: {}, count: '0', sum: '0' }));
    if (v.metricName?.endsWith('_bucket') === true && le !== undefined)
      g.buckets[String(le)] = String(v.value);
    else if (v.metricName?.endsWith('_sum') === true) g.sum = String(v.value);
    else if (v.metricName?.endsWith('_count') === true) g.count = String(v.value);
  }
  return {
    metric_type: 'histogram',
    metric_name: family.name,
    help: family.help,
    data: [...groups.values()].map((g) => ({ type: 'histogram' as const, ...g })),
  };
}

/** Options of {@link consumerLag}. */
export interface ConsumerLagOptions {
  /** Stop counting a partition's lag here (reading is proportional to the lag). @default 100_000 */
  cap?: number;
  signal?: AbortSignal;
}

/**
 * Counts the records of `stream` past `consumer`'s committed positions by reading them — cheap
 * when the consumer keeps up (the usual case) and capped otherwise. Meant for the embedded file
 * log, whose reads are local; on Kafka or JetStream each read opens a consumer, so prefer the
 * broker's own lag metrics there.
 */
export async function consumerLag(
  log: Log,
  consumer: string,
  stream: string,
  options: ConsumerLagOptions = {},
): Promise<ConsumerLag> {
  const cap = options.cap ?? 100_000;
  const partitions = await log.partitions(stream, { signal: options.signal });
  const committed = await log.committed(consumer, stream, { signal: options.signal });
  let records = 0;
  for (let p = 0; p < partitions; p++) {
    let n = 0;
    for await (const _ of log.read(stream, {
      partition: p,
      from: committed[p] ?? 'earliest',
      signal: options.signal,
    })) {
      if (++n >= cap) break;
    }
    records += n;
  }
  return { consumer, stream, records };
}
