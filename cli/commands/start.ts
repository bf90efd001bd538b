// `ipvm start`: a long-lived node that runs whatever producers append to `invocations`.
import type { Command } from 'commander';
import { nodeOptions, openNode, type NodeFlags } from '../node-context.ts';

export function registerStart(program: Command): void {
  nodeOptions(
    program
      .command('start')
      .description('Start a long-lived node consuming the invocations stream until SIGINT/SIGTERM'),
  )
    .addHelpText(
      'after',
      '\nExamples:\n  ipvm start --data-dir /var/lib/ipvm\n  ipvm start --backend kafka --brokers 127.0.0.1:9092\n  ipvm start --backend nats --nats-url nats://127.0.0.1:4222',
    )
    .action(async (flags: NodeFlags) => {
      const opened = await openNode(flags, (e) => {
        if (e.type === 'node:recovered') process.stderr.write(`recovered ${e.receipts} receipts, ${e.invocations} invocations in ${e.ms.toFixed(0)} ms\n`);
        if (e.type === 'node:dead-letter') process.stderr.write(`dead letter: ${e.stream}/${e.partition}@${e.offset}: ${e.reason}\n`);
        if (e.type === 'node:error') process.stderr.write(`error: ${String(e.error)}\n`);
      });
      process.stderr.write(`node ${opened.node.nodeId} started (${flags.backend ?? 'file'} backend, data dir ${opened.dataDir})\n`);
      process.stdout.write('ready\n');
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      process.stderr.write('draining…\n');
      await opened[Symbol.asyncDispose]();
    });
}
