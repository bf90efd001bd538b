// Free TCP ports on loopback, for the servers the project's scripts, tests and benchmarks start.
import { createServer, type Server } from 'node:net';

function listen(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/**
 * `count` distinct ports free on 127.0.0.1 right now. The kernel picks them while all are held
 * at once, then all are closed: asked one after another, the same port can come back twice
 * (a Kafka broker then gets one port for its two listeners and refuses to start).
 */
export async function freePorts(count: number): Promise<number[]> {
  const held = await Promise.all(Array.from({ length: count }, listen));
  const ports = held.map((server) => {
    const address = server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  });
  await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** One port free on 127.0.0.1 right now (closed again before use). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}
