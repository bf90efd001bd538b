// The scale-out scenario shared by the Kafka and JetStream cluster tests: N node processes on
// one namespace run one workflow; optionally one of them is SIGKILLed after a seeded number of
// receipts. The parent submits the workflow, watches the receipts, stops the survivors and
// reads the streams back to count receipts per instruction and executions per node.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CID } from 'multiformats/cid';
import type { Log } from '../../streams/log.ts';
import { createTopology } from '../../streams/topology.ts';
import { decodeEvent, type NodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import { parseWorkflow, type ParsedWorkflow } from '../../schemas/model.ts';
import { eventRecord } from '../../processors/engine/envelope.ts';
import { prepare } from '../engine/crash-scenario.ts';
import { seededRandom } from '../harness/random.ts';

const CHILD = join(import.meta.dirname, 'cluster-child.ts');

export interface ClusterRun {
  /** Receipt records per instruction. */
  records: Map<string, number>;
  /** Distinct receipt CIDs per instruction. */
  distinct: Map<string, Set<string>>;
  /** Output value per instruction (of the first receipt). */
  outputs: Map<string, unknown>;
  /** Executions (receipts not replayed) per node id. */
  executions: Map<string, number>;
  /** The node killed, and after how many receipts; null when none was. */
  killed: { node: string; afterReceipts: number } | null;
  /** Instruction CIDs in task order. */
  instructions: string[];
  ended: string | null;
  ms: number;
  /** Views of the live nodes that changed after the workflow was submitted, per node. */
  viewChanges: Map<string, string[]>;
  /** For each instruction with more than one receipt record: who wrote them. */
  duplicates: Map<string, string[]>;
}

export interface ClusterOptions {
  env: Record<string, string>;
  namespace: string;
  /** A log for the parent (submission and reading back). */
  open(): Log;
  nodes: number;
  tasks: number;
  /** Kill one node after a seeded number of receipts. */
  kill: boolean;
  seed: number;
  timeoutMs?: number;
  /**
   * Resolves once every node's executor takes a share of the tasks (Kafka: its consumer group
   * has rebalanced over all of them); default: as soon as the nodes see each other.
   */
  executorsReady?(namespace: string, nodes: number): Promise<void>;
}

/** Node processes on one namespace, each seeing all of them. */
export interface StartedNodes {
  children: Map<string, ChildProcess>;
  /** Everything each node printed (stdout and stderr). */
  output: Map<string, string>;
  exits: Promise<unknown>[];
}

/**
 * Starts `nodes` cluster children (`node-0`…) and resolves once each sees all of them;
 * `extraEnv(id)` adds environment per node (e.g. its allowed hosts).
 */
export async function startNodes(
  options: Pick<ClusterOptions, 'env' | 'namespace' | 'nodes'>,
  wasm: string,
  extraEnv: (id: string) => Record<string, string> = () => ({}),
  started: StartedNodes = { children: new Map(), output: new Map(), exits: [] },
): Promise<StartedNodes> {
  const { children, output, exits } = started;
  await Promise.all(
    Array.from({ length: options.nodes }, (_, i) => {
      const id = `node-${i}`;
      const child = spawn(process.execPath, [CHILD, options.namespace, wasm], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...options.env, ...extraEnv(id), IPVM_NODE_ID: id },
      });
      children.set(id, child);
      output.set(id, '');
      exits.push(new Promise((resolve) => child.once('exit', resolve)));
      child.stderr.on('data', (d: Buffer) => output.set(id, output.get(id)! + d.toString()));
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${id} did not see ${options.nodes} nodes: ${output.get(id)}`)),
          60_000,
        );
        child.stdout.on('data', (d: Buffer) => {
          output.set(id, output.get(id)! + d.toString());
          const counts = [...output.get(id)!.matchAll(/MEMBERS (\d+)/g)];
          if (Number(counts.at(-1)?.[1]) === options.nodes) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`${id} exited ${code ?? signal}: ${output.get(id)}`));
        });
      });
    }),
  );
  return started;
}

export async function runCluster(options: ClusterOptions): Promise<ClusterRun> {
  const files = await prepare(options.tasks);
  const random = seededRandom(options.seed);
  const log = options.open();
  const topology = createTopology({ namespace: options.namespace });
  const nodes: StartedNodes = { children: new Map(), output: new Map(), exits: [] };
  const { children, output, exits } = nodes;
  const controller = new AbortController();
  try {
    await log.ensureStreams(topology.streams);
    // Up and seeing each other before the workflow arrives.
    await startNodes(options, files.wasm, undefined, nodes);
    await options.executorsReady?.(options.namespace, options.nodes);
    const started = performance.now();
    const before = new Map([...output].map(([id, text]) => [id, text.length]));
    const parsed = await submitWorkflow(log, options.namespace, await readFile(files.workflow));

    const killAt = Math.floor(options.tasks * (0.15 + random() * 0.45));
    const victim = `node-${Math.floor(random() * options.nodes)}`;
    let killed: ClusterRun['killed'] = null;
    const seen = new Set<string>();
    let ended: string | null = null;
    const timeout = setTimeout(() => controller.abort(), options.timeoutMs ?? 120_000);
    const watchReceipts = (async () => {
      for await (const r of log.read(topology.name('pure'), {
        follow: true,
        signal: controller.signal,
      })) {
        seen.add(r.key);
        if (options.kill && killed === null && seen.size >= killAt) {
          children.get(victim)!.kill('SIGKILL');
          killed = { node: victim, afterReceipts: seen.size };
        }
      }
    })();
    for await (const r of log.read(topology.name('invocations'), {
      follow: true,
      signal: controller.signal,
    })) {
      const e = decodeEvent(r.value);
      if (
        (e.type === 'workflow/completed' || e.type === 'workflow/failed') &&
        e.workflow.equals(parsed.cid)
      ) {
        ended = e.type;
        break;
      }
    }
    const ms = performance.now() - started;
    clearTimeout(timeout);
    controller.abort();
    await watchReceipts;
    // Stop the survivors gracefully, then count everything they wrote.
    for (const child of children.values()) if (child.exitCode === null) child.kill('SIGTERM');
    await Promise.all(exits);

    const records = new Map<string, number>();
    const distinct = new Map<string, Set<string>>();
    const outputs = new Map<string, unknown>();
    const executions = new Map<string, number>();
    const writers = new Map<string, string[]>();
    for await (const r of log.read(topology.name('pure'))) {
      const e = decodeEvent(r.value) as ReceiptEvent;
      const key = e.instruction.toString();
      records.set(key, (records.get(key) ?? 0) + 1);
      const set = distinct.get(key) ?? new Set<string>();
      set.add(e.receipt.toString());
      distinct.set(key, set);
      if (!outputs.has(key)) outputs.set(key, e.body.out);
      if (!e.replayed) executions.set(e.executor, (executions.get(e.executor) ?? 0) + 1);
      const w = writers.get(key) ?? [];
      w.push(`${e.executor}${e.replayed ? ' (replayed)' : ''}`);
      writers.set(key, w);
    }
    const viewChanges = new Map(
      [...output].map(([id, text]) => [
        id,
        [...text.slice(before.get(id)).matchAll(/MEMBERS \d+/g)].map((m) => m[0]),
      ]),
    );
    return {
      records,
      distinct,
      outputs,
      executions,
      killed,
      instructions: files.instructions,
      ended,
      ms,
      viewChanges,
      duplicates: new Map([...writers].filter(([, w]) => w.length > 1)),
    };
  } catch (error) {
    const logs = [...output].map(([id, text]) => `--- ${id}\n${text.slice(-2000)}`).join('\n');
    throw new Error(`${(error as Error).message}\n${logs}`, { cause: error });
  } finally {
    controller.abort();
    for (const child of children.values()) if (child.exitCode === null) child.kill('SIGKILL');
    await log.close();
    await (await import('../engine/crash-scenario.ts')).cleanup(files);
  }
}

/**
 * Follows a namespace's `invocations` until `workflow` (or, without it, any workflow) ends;
 * its end type, or null when `timeoutMs` passes first.
 */
export async function workflowEnd(
  log: Log,
  namespace: string,
  workflow?: CID,
  timeoutMs = 60_000,
): Promise<string | null> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    for await (const r of log.read(createTopology({ namespace }).name('invocations'), {
      follow: true,
      signal: controller.signal,
    })) {
      const e = decodeEvent(r.value);
      if (
        (e.type === 'workflow/completed' || e.type === 'workflow/failed') &&
        (workflow === undefined || e.workflow.equals(workflow))
      )
        return e.type;
    }
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** Appends a workflow submission to a namespace's `invocations`, as `node.submit` does. */
export async function submitWorkflow(
  log: Log,
  namespace: string,
  bytes: Uint8Array,
): Promise<ParsedWorkflow> {
  const parsed = parseWorkflow(new Uint8Array(bytes));
  const event: NodeEvent = {
    type: 'workflow/submitted',
    workflow: parsed.cid,
    body: parsed.workflow,
    name: parsed.name,
    at: Date.now(),
  };
  const topology = createTopology({ namespace });
  await log.append(topology.name('invocations'), [eventRecord(parsed.cid.toString(), event)]);
  return parsed;
}

/** The value task `i` of the crash workflow must produce (`add_one` chains of stride 10). */
export function expectedOutput(i: number): number {
  return (i % 10) * 1000 + Math.floor(i / 10) + 1;
}
