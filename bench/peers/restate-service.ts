// The Restate side of the durable-workflow comparison, in a process of its own: one service
// whose handler runs `n` trivial durable steps (`ctx.run`, each journaled by the server before
// the next starts) on the TypeScript SDK's HTTP/2 endpoint.
//
//   fork('bench/peers/restate-service.ts', [port])  → sends {port} once listening
import * as restate from '@restatedev/restate-sdk';

const steps = restate.service({
  name: 'steps',
  handlers: {
    run: async (ctx: restate.Context, input: { n: number; x: number }): Promise<number> => {
      let x = input.x;
      for (let i = 0; i < input.n; i++) {
        const prev = x;
        x = await ctx.run('add-one', () => prev + 1);
      }
      return x;
    },
  },
});

const port = await restate.serve({
  services: [steps],
  port: Number(process.argv[2]),
  logger: () => undefined,
});
process.send?.({ port });
process.on('disconnect', () => process.exit(0));
