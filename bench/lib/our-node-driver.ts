// What a benchmark asks of this node, run against a node in the same process: the node child
// (our-node-child.ts) serves it over IPC, and gap.bench.ts runs it in process too, so the two
// differ by nothing but the process boundary.
import type { IpvmNode } from '../../processors/engine/node.ts';
import { dagJson } from '../../schemas/codecs.ts';
import type { ReceiptEvent, WorkflowEndedEvent } from '../../schemas/events.ts';
import type { IpldMap, IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import { RenewingMap } from '../../processors/renewing.ts';
import type { ChildRequest, RanWorkflow, SeenReceipt, Throughput } from './our-node-protocol.ts';
import { chain, task } from './workflows.ts';

export interface Driver {
  handle(req: ChildRequest): Promise<unknown>;
  close(): void;
}

/** `add_one(start)` then `n - 1` tasks awaiting the previous one, as an IPLD value. */
function chainValue(rsc: string, n: number, start: number): IpldMap {
  const tasks: IpldMap[] = [];
  for (let i = 0; i < n; i++) {
    const prev = tasks[i - 1];
    const arg: IpldValue =
      prev === undefined
        ? start
        : { 'await/ok': parseWorkflow({ tasks: [prev] }).tasks[0]!.instruction };
    tasks.push(task(rsc, 'add_one', [arg]));
  }
  return { tasks };
}

function withMeta(value: IpldValue, run: number): IpldMap {
  const tasks = (value as { tasks: IpldMap[] }).tasks;
  return { tasks: tasks.map((t) => ({ ...t, meta: { ...(t.meta as IpldMap), run } })) };
}

export function createDriver(node: IpvmNode): Driver {
  // Receipts and ends are followed once for the whole process (not one subscription per
  // workflow); a run waits for the *next* end of its workflow CID, so a re-submitted
  // (memoized) workflow is timed too.
  // (Renewing: a plain Map here, churned twice per workflow, made every run's state outlive it.)
  const receiptsOf = new RenewingMap<string, SeenReceipt[]>();
  const waiting = new RenewingMap<string, (e: WorkflowEndedEvent) => void>();
  const subs = [
    node.receipts().subscribe((r: ReceiptEvent) => {
      const key = r.workflow?.toString();
      if (key === undefined) return;
      receiptsOf.get(key)?.push({
        ran: r.invocation.toString(),
        receipt: r.receipt.toString(),
        instruction: r.instruction.toString(),
        out: dagJson.stringify(r.body.out),
        replayed: r.replayed,
      });
    }),
    node.ends().subscribe((e) => {
      const key = e.workflow.toString();
      const w = waiting.get(key);
      if (w !== undefined) {
        waiting.delete(key);
        w(e);
      }
    }),
  ];

  /**
   * Submit → end. `workflow` as DAG-JSON text is what a client sends over the wire; as an IPLD
   * value it is what a library caller passes. Receipts are collected only when asked for.
   */
  async function run(workflow: string | IpldMap, collect: boolean): Promise<RanWorkflow> {
    const t = performance.now();
    // CPU time only where one run is timed (a syscall: it would cost the throughput runs).
    const cpu = collect ? process.cpuUsage() : undefined;
    // Parsed once, as a client library does: the node takes the parse as it is.
    const parsed = parseWorkflow(workflow);
    const key = parsed.cid.toString();
    if (collect) receiptsOf.set(key, []);
    const ended = new Promise<WorkflowEndedEvent>((resolve) => waiting.set(key, resolve));
    await node.submit(parsed);
    const end = await ended;
    const ms = performance.now() - t;
    const used = cpu === undefined ? undefined : process.cpuUsage(cpu);
    const receipts = receiptsOf.get(key) ?? [];
    receiptsOf.delete(key);
    return {
      cid: key,
      ms,
      cpuMs: used === undefined ? undefined : (used.user + used.system) / 1000,
      status: end.type,
      receipts,
      receiptCids: end.receipts.map((c) => c.toString()),
    };
  }

  const completed = (r: RanWorkflow): void => {
    if (r.status !== 'workflow/completed') throw new Error(`workflow ${r.cid} failed`);
  };

  async function handle(req: ChildRequest): Promise<unknown> {
    switch (req.cmd) {
      case 'run': {
        const out: RanWorkflow[] = [];
        for (const wf of req.workflows) out.push(await run(wf, true));
        return out;
      }
      case 'latency': {
        const xs: number[] = [];
        let start = req.start;
        const memoized = req.n === 0 ? chain(req.rsc, 1, start) : undefined;
        if (memoized !== undefined) await run(memoized.json, false);
        for (let i = 0; i < req.runs; i++) {
          // A memo hit needs a fresh workflow CID around the memoized task: another `meta`.
          const wf =
            memoized !== undefined
              ? withMeta(memoized.value, i)
              : chainValue(req.rsc, req.n, (start += 1000));
          const r = await run(req.json ? dagJson.stringify(wf) : wf, false);
          completed(r);
          xs.push(r.ms);
        }
        return xs;
      }
      case 'throughput': {
        let start = req.start;
        let done = 0;
        const deadline = performance.now() + req.seconds * 1000;
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: req.c }, async () => {
            while (performance.now() < deadline) {
              const wf = chainValue(req.rsc, req.n, (start += 1000));
              completed(await run(req.json ? dagJson.stringify(wf) : wf, false));
              done++;
            }
          }),
        );
        return { workflows: done, seconds: (performance.now() - t0) / 1000 } satisfies Throughput;
      }
      case 'exit':
        return null;
    }
  }

  return {
    handle,
    close: () => subs.forEach((s) => s.unsubscribe()),
  };
}
