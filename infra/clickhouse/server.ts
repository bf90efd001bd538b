/**
 * Starts a private ClickHouse server: its own temp dir and config (from `config.xml` and
 * `users.xml` beside this file), HTTP only, on a free loopback port. Ready when `GET /ping`
 * answers (polled, never a fixed sleep); `stop()` terminates it and removes the dir.
 *
 * Used by the test harness (`test/harness/clickhouse.ts`); runnable by hand:
 * `node infra/clickhouse/server.ts` prints the URL and serves until Ctrl-C.
 *
 * Finds `clickhouse-server` (Debian's 18.16 package, installed by `infra/setup.d/30-clickhouse.sh`)
 * or a single `clickhouse` binary (`clickhouse server`), on PATH or in /usr/sbin, /usr/bin.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from '../free-ports.ts';

/** A running private server. */
export interface ClickHouseServer {
  /** HTTP URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Its temp dir (data, logs, config). */
  readonly dir: string;
  /** Server version as reported by `SELECT version()`. */
  readonly version: string;
  /** Terminates the server (SIGTERM, then SIGKILL after 10 s) and removes its dir. */
  stop(): Promise<void>;
  /** Same as {@link ClickHouseServer.stop}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@link startClickHouseServer}. */
export interface StartOptions {
  /** Gives up waiting for readiness. */
  signal?: AbortSignal;
  /** Readiness deadline in ms. @default 60000 */
  readyTimeoutMs?: number;
  /** Binary to run instead of searching for one. */
  binary?: string;
}

const HERE = import.meta.dirname;

/** The server binary and the arguments that precede `--config-file`, or null if none found. */
export function findClickHouseBinary(): { path: string; args: string[] } | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const server = join(dir, 'clickhouse-server');
    if (existsSync(server)) return { path: server, args: [] };
  }
  for (const dir of dirs) {
    if (dir === '') continue;
    const single = join(dir, 'clickhouse');
    if (existsSync(single)) return { path: single, args: ['server'] };
  }
  return null;
}

async function ping(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/ping`, {
      signal: AbortSignal.timeout(1000),
      headers: { connection: 'close' },
    });
    return res.ok && (await res.text()).startsWith('Ok');
  } catch {
    return false;
  }
}

/**
 * Starts a private server and waits until it answers `/ping`.
 * @throws Error when no binary is installed, the server exits early, or it is not ready in time.
 */
export async function startClickHouseServer(options: StartOptions = {}): Promise<ClickHouseServer> {
  const bin =
    options.binary !== undefined ? { path: options.binary, args: [] } : findClickHouseBinary();
  if (bin === null) {
    throw new Error('no clickhouse-server binary found (run infra/setup.d/30-clickhouse.sh)');
  }
  const dir = await mkdtemp(join(tmpdir(), 'ipvm-clickhouse-'));
  // A port can be taken between asking and binding: retry a few times on early exit.
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    for (const sub of ['log', 'data', 'tmp', 'user_files', 'format_schemas']) {
      await mkdir(join(dir, sub), { recursive: true });
    }
    const fill = (t: string): string =>
      t.replaceAll('{{DIR}}', dir).replaceAll('{{HTTP_PORT}}', String(port));
    await writeFile(
      join(dir, 'config.xml'),
      fill(await readFile(join(HERE, 'config.xml'), 'utf8')),
    );
    await writeFile(join(dir, 'users.xml'), await readFile(join(HERE, 'users.xml'), 'utf8'));

    const child = spawn(bin.path, [...bin.args, `--config-file=${join(dir, 'config.xml')}`], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    let gone = false;
    void exited.then(() => {
      gone = true;
    });

    const ready = await waitReady(url, () => gone, options);
    if (ready === 'ready') {
      const version = await (
        await fetch(`${url}/?query=${encodeURIComponent('SELECT version()')}`, {
          headers: { connection: 'close' },
        })
      ).text();
      return handle(url, dir, version.trim(), child, exited);
    }
    if (!gone) child.kill('SIGKILL');
    await exited;
    if (ready === 'exited' && attempt < 3) continue;
    const log = await readFile(join(dir, 'log', 'error.log'), 'utf8').catch(() => '');
    await rm(dir, { recursive: true, force: true });
    throw new Error(
      `ClickHouse server ${ready === 'exited' ? 'exited early' : 'not ready in time'}: ` +
        `${stderr.trim()} ${log.slice(-2000).trim()}`,
    );
  }
}

async function waitReady(
  url: string,
  exited: () => boolean,
  options: StartOptions,
): Promise<'ready' | 'exited' | 'timeout'> {
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  let delay = 20;
  while (Date.now() < deadline) {
    options.signal?.throwIfAborted();
    if (exited()) return 'exited';
    if (await ping(url)) return 'ready';
    // Poll with a short backoff: the readiness probe decides, not the wait.
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
  return 'timeout';
}

function handle(
  url: string,
  dir: string,
  version: string,
  child: ChildProcess,
  exited: Promise<number | null>,
): ClickHouseServer {
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    })();
    return stopping;
  };
  return { url, dir, version, stop, [Symbol.asyncDispose]: stop };
}

// `node infra/clickhouse/server.ts`: serve until interrupted.
if (import.meta.main) {
  const server = await startClickHouseServer();
  console.log(`ClickHouse ${server.version} at ${server.url} (dir ${server.dir}); Ctrl-C stops it`);
  const shutdown = (): void => {
    void server.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
