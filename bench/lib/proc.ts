// Child processes for the side-by-side benchmarks: readiness probes (never a fixed sleep), peak
// resident memory from /proc, and a stop that escalates to SIGKILL (their loopback ports:
// infra/free-ports.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

function tcpOpen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Polls until `probe` is true, the child exits, or the timeout passes. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs?: number; child?: ChildProcess; signal?: AbortSignal } = {},
): Promise<void> {
  const deadline = performance.now() + (options.timeoutMs ?? 30_000);
  while (performance.now() < deadline) {
    options.signal?.throwIfAborted();
    if (options.child !== undefined && options.child.exitCode !== null) {
      throw new Error(
        `${what}: process exited with code ${options.child.exitCode} before it was ready`,
      );
    }
    if (await probe().catch(() => false)) return;
    await sleep(50);
  }
  throw new Error(`${what}: not ready after ${options.timeoutMs ?? 30_000} ms`);
}

/** Waits until a TCP port accepts connections. */
export function waitForPort(
  port: number,
  options: { host?: string; timeoutMs?: number; child?: ChildProcess; signal?: AbortSignal } = {},
): Promise<void> {
  return waitFor(`port ${port}`, () => tcpOpen(port, options.host ?? '127.0.0.1'), options);
}

function statusField(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    );
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Peak resident set size of a live process (VmHWM), in bytes; NaN when unknown. */
export function peakRss(pid: number): number {
  return statusField(pid, 'VmHWM');
}

/** Current resident set size of a live process, in bytes; NaN when unknown. */
export function currentRss(pid: number): number {
  return statusField(pid, 'VmRSS');
}

/** A spawned server whose output goes to a log file. */
export interface Server {
  child: ChildProcess;
  pid: number;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
let hooked = false;

/** Servers must not outlive a benchmark that is interrupted or fails. */
function killOnExit(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const c of live) c.kill('SIGKILL');
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
}

export function startServer(
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; logFile: string },
): Server {
  const out = createWriteStream(options.logFile);
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(out);
  child.stderr.pipe(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  killOnExit(child);
  return {
    child,
    pid: child.pid,
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
      out.end();
    },
  };
}
