// Restate (npm `@restatedev/restate-server` + `@restatedev/restate-sdk`) as a benchmark peer: a
// single-node server with its own base dir on loopback ports, telemetry off, default storage
// (replicated loglet on the local log-server, RocksDB WAL fsynced), and the `steps` service of
// restate-service.ts in a child process, registered as a deployment and called through the
// ingress over HTTP.
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { currentRss, peakRss, startServer, waitFor, type Server } from '../lib/proc.ts';
import { freePorts } from '../../infra/free-ports.ts';
import { PeerUnavailableError } from './errors.ts';

/** Path of the restate-server binary from its npm package, or a reason why there is none. */
export function restateServerBinary(): string {
  const require = createRequire(import.meta.url);
  const name = `@restatedev/restate-server-${process.platform}-${process.arch}`;
  let pkg: string;
  try {
    pkg = require.resolve(`${name}/package.json`);
  } catch (cause) {
    throw new PeerUnavailableError(`${name} is not installed (optional dependency)`, { cause });
  }
  const bin = join(dirname(pkg), 'bin', 'restate-server');
  if (!existsSync(bin)) throw new PeerUnavailableError(`no binary at ${bin}`);
  return bin;
}

export interface Restate {
  serverPid: number;
  servicePid: number;
  /** Runs the `n`-step handler once; resolves with its output. */
  call(n: number, x: number, options?: { signal?: AbortSignal }): Promise<number>;
  rss(): { server: number; service: number };
  peakRss(): { server: number; service: number };
  close(): Promise<void>;
}

async function ok(url: string): Promise<boolean> {
  const r = await fetch(url);
  await r.arrayBuffer();
  return r.ok;
}

export async function startRestate(options: { dir: string }): Promise<Restate> {
  const bin = restateServerBinary();
  mkdirSync(options.dir, { recursive: true });
  const [ingress, admin, fabric, servicePort] = (await freePorts(4)) as [
    number,
    number,
    number,
    number,
  ];
  writeFileSync(
    join(options.dir, 'restate.toml'),
    `cluster-name = "bench"
base-dir = "${join(options.dir, 'data')}"
disable-telemetry = true
bind-address = "127.0.0.1:${fabric}"
log-disable-ansi-codes = true
[ingress]
bind-address = "127.0.0.1:${ingress}"
[admin]
bind-address = "127.0.0.1:${admin}"
disable-web-ui = true
`,
  );
  let server: Server;
  try {
    server = startServer(bin, ['-c', 'restate.toml', '--no-logo', '--listen-mode', 'tcp'], {
      cwd: options.dir,
      env: { ...process.env, RESTATE_DISABLE_TELEMETRY: 'true' },
      logFile: join(options.dir, 'restate.log'),
    });
    await waitFor('restate admin', () => ok(`http://127.0.0.1:${admin}/health`), {
      child: server.child,
      timeoutMs: 60_000,
    });
    await waitFor('restate ingress', () => ok(`http://127.0.0.1:${ingress}/restate/health`), {
      child: server.child,
      timeoutMs: 60_000,
    });
  } catch (cause) {
    throw new PeerUnavailableError(
      `restate-server did not start (log: ${join(options.dir, 'restate.log')})`,
      { cause },
    );
  }

  const service: ChildProcess = fork(
    join(import.meta.dirname, 'restate-service.ts'),
    [String(servicePort)],
    { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  const serviceExited = new Promise<void>((resolve) => service.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    service.once('message', () => resolve());
    service.once('exit', (code) => reject(new Error(`restate service exited with ${code}`)));
  });
  const reg = await fetch(`http://127.0.0.1:${admin}/deployments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ uri: `http://127.0.0.1:${servicePort}` }),
  });
  if (!reg.ok)
    throw new Error(`restate: registering the service failed: ${reg.status} ${await reg.text()}`);
  await reg.arrayBuffer().catch(() => undefined);

  return {
    serverPid: server.pid,
    servicePid: service.pid!,
    async call(n, x, callOptions = {}) {
      const r = await fetch(`http://127.0.0.1:${ingress}/steps/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ n, x }),
        signal: callOptions.signal,
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`restate: ${r.status} ${text}`);
      return Number(text);
    },
    rss: () => ({ server: currentRss(server.pid), service: currentRss(service.pid!) }),
    peakRss: () => ({ server: peakRss(server.pid), service: peakRss(service.pid!) }),
    async close() {
      service.disconnect();
      const t = setTimeout(() => service.kill('SIGKILL'), 5_000);
      await serviceExited;
      clearTimeout(t);
      await server.stop(20_000);
    },
  };
}
