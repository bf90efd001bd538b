// Ports for the servers the tests and benchmarks start: distinct when asked for together, and a
// Kafka broker never started with one port for both of its listeners.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { freePorts } from '../../infra/free-ports.ts';

const exec = promisify(execFile);
const KAFKA_SH = join(import.meta.dirname, '..', '..', 'infra', 'kafka', 'kafka.sh');

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

describe('free ports', () => {
  it('gives distinct ports when asked for together, each free to listen on', async () => {
    const ports = await freePorts(32);
    expect(new Set(ports).size).toBe(32);
    const servers = await Promise.all(ports.map(listenOn));
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it('kafka.sh refuses one port for the broker and its controller, before starting anything', async () => {
    const [port] = await freePorts(1);
    const failed = await exec(
      'bash',
      [KAFKA_SH, 'start', '--port', String(port), '--controller-port', String(port)],
      { timeout: 10_000 },
    ).then(
      () => undefined,
      (e: { code?: number; stderr?: string }) => e,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain(
      `kafka.sh: --controller-port (${port}) must differ from --port`,
    );
  });
});
