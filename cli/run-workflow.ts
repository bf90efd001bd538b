// Runs one workflow and hands its receipts to a sink, on the embedded node or through the running
// node the flags point at: the path `ipvm run` and `ipvm call` share.
import { parseWorkflow, type ParsedWorkflow } from '../schemas/model.ts';
import { decodeAuto } from '../schemas/codecs.ts';
import { resolveDataDir } from '../processors/content/index.ts';
import { readProofs } from '../processors/auth/proofs.ts';
import {
  memoLine,
  receiptLine,
  workflowEnd,
  type ReceiptLine,
  type WorkflowEnd,
} from '../processors/api/receipt-line.ts';
import type { Logger } from '../processors/logger.ts';
import type { NodeInit } from '../processors/engine/node.ts';
import { logProgress } from './logging.ts';
import { authConfig, nodeConfig, type NodeFlags } from './node-context.ts';
import { connectNode, throughNode, type RemoteFlags } from './remote.ts';

/** Where receipts go. */
export interface RunSink {
  /** A receipt (possibly twice: the sink keeps one per instruction). */
  print(l: ReceiptLine): void;
  /** What the node says of the submission (e.g. an await nothing produces). */
  warn?(warnings: readonly string[]): void;
  /** The end. */
  end(workflow: string, e: WorkflowEnd): void;
}

/**
 * Runs a workflow. `prepare` gets a function that stores content where the node will read it
 * (the node's content store, or the running node's through its API) and returns the workflow.
 * UCAN proofs travel beside it: `auth.proofTokens` (`--proof`) plus the document's own `proofs`;
 * a workflow `auth.known` up front is authorized before the embedded node is opened.
 */
export async function runWorkflow(
  flags: NodeFlags & RemoteFlags,
  logger: Logger,
  prepare: (add: (bytes: Uint8Array) => Promise<string>) => Promise<Uint8Array>,
  sink: (parsed: ParsedWorkflow) => RunSink,
  extra: Pick<NodeInit, 'workflowTimeoutMs' | 'awaitTimeoutMs'> = {},
  auth: { proofTokens?: readonly string[]; known?: Uint8Array } = {},
): Promise<void> {
  const proofTokens = auth.proofTokens ?? [];
  const proofsOf = (bytes: Uint8Array) => readProofs(decodeAuto(bytes).value, proofTokens);
  await throughNode(
    flags,
    // A running node holds the data directory: submit through its API.
    async ({ url }) => {
      logger.debug({ node: url }, 'submitting through the running node');
      const client = await connectNode(url);
      try {
        const bytes = await prepare((b) => client.add(b));
        const parsed = parseWorkflow(bytes);
        const proofs = proofsOf(bytes);
        const report = sink(parsed);
        const run = await client.run(bytes, {
          proofs: proofs === undefined ? undefined : Object.values(proofs),
        });
        report.warn?.(run.warnings);
        for await (const l of run.receipts) report.print(l);
        report.end(parsed.cid.toString(), await run.ended);
      } finally {
        await client.close();
      }
    },
    async () => {
      // Refused before the node (its log, content store, runtime) is even opened when the
      // workflow is known up front; otherwise (`ipvm call` stores its module first) on submit.
      const config = nodeConfig(flags);
      const [{ openAuthority }, { openNode }] = await Promise.all([
        import('../processors/compose/open-authority.ts'),
        import('../processors/compose/open-node.ts'),
      ]);
      const authority = await openAuthority(authConfig(flags), resolveDataDir(flags.dataDir));
      if (auth.known !== undefined)
        authority.authorize(parseWorkflow(auth.known), proofsOf(auth.known));
      const opened = await openNode({
        ...config,
        ...extra,
        authority,
        onProgress: logProgress(logger.child({ component: 'node' }), { recovery: 'debug' }),
      });
      try {
        const { node } = opened;
        const bytes = await prepare(async (b) => (await opened.content.add(b)).toString());
        const parsed = parseWorkflow(bytes);
        const proofs = proofsOf(bytes);
        const report = sink(parsed);
        const sub = node
          .receipts(parsed.cid)
          .subscribe((r) => report.print(receiptLine(r, r.replayed)));
        // Parsed once: the node takes the parse as it is.
        const submitted = await node.submit(parsed, { proofs });
        report.warn?.(submitted.warnings);
        const end = await node.ended(parsed.cid);
        sub.unsubscribe();
        // A workflow that already ran ends at once: its receipts come from the memo.
        for (const t of parsed.tasks) {
          const entry = node.memo.get(t.instruction.toString());
          if (entry !== undefined) report.print(memoLine(entry, parsed.cid, t.task.run));
        }
        report.end(parsed.cid.toString(), workflowEnd(end));
      } finally {
        await opened[Symbol.asyncDispose]();
      }
    },
  );
}
