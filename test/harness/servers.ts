// Real servers for integration tests, in order of preference:
//   1. an existing server named by the environment (KAFKA_BROKERS, NATS_URL);
//   2. a container, when a container runtime works (detected once per process);
//   3. the project's own scripts (infra/kafka/kafka.sh, infra/nats/nats.sh) on free loopback
//      ports with temp dirs, waiting on their readiness probe.
// With CI=true a server that cannot start fails the suite; elsewhere the suite is skipped with
// the reason (see `startOrSkip`).
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, freePorts } from '../../infra/free-ports.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface KafkaServer {
  /** Bootstrap brokers, e.g. `['127.0.0.1:9092']`. */
  brokers: string[];
  /** How it was started: `'env'`, `'container'` or `'script'`. */
  origin: string;
  stop(): Promise<void>;
}

export interface NatsServer {
  /** Server URL, e.g. `nats://127.0.0.1:4222`. */
  url: string;
  origin: string;
  stop(): Promise<void>;
}

let runtime: Promise<boolean> | undefined;

/** Whether containers can be started here; probed once (fails within ms without a daemon). */
function containerRuntimeWorks(): Promise<boolean> {
  runtime ??= (async () => {
    if (process.env.IPVM_NO_CONTAINERS === '1') return false;
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      await getContainerRuntimeClient();
      return true;
    } catch {
      return false;
    }
  })();
  return runtime;
}

function run(file: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolveRun, reject) => {
    execFile(file, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error !== null)
        reject(new Error(`${file} ${args.join(' ')}: ${error.message}\n${stderr}`));
      else resolveRun(stdout);
    });
  });
}

/**
 * Spawns `script run …` in the foreground with its output in `<dir>/server.log`, then waits on
 * `script ready …` (the readiness probe), failing early if the server exits.
 */
async function spawnScript(
  script: string,
  runArgs: string[],
  readyArgs: string[],
  dir: string,
  timeoutMs: number,
): Promise<ChildProcess> {
  const logFile = join(dir, 'server.log');
  const out = openSync(logFile, 'a');
  const child = spawn('bash', [script, 'run', ...runArgs, '--dir', dir], {
    stdio: ['ignore', out, out],
    detached: false,
  });
  closeSync(out);
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => {
      let tail = '';
      try {
        tail = readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
      } catch {
        // no log
      }
      reject(new Error(`${script} exited (${code ?? signal}) during start-up\n${tail}`));
    });
  });
  try {
    await Promise.race([
      run(
        'bash',
        [script, 'ready', ...readyArgs, '--timeout', String(Math.ceil(timeoutMs / 1000))],
        timeoutMs + 5_000,
      ),
      exited,
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  exited.catch(() => undefined);
  return child;
}

function stopChild(child: ChildProcess, dir: string): () => Promise<void> {
  let stopped: Promise<void> | undefined;
  return () => {
    stopped ??= new Promise<void>((resolveStop) => {
      const done = (): void => {
        clearTimeout(timer);
        rmSync(dir, { recursive: true, force: true });
        resolveStop();
      };
      if (child.exitCode !== null || child.signalCode !== null) {
        done();
        return;
      }
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('exit', done);
      child.kill('SIGTERM');
    });
    return stopped;
  };
}

/** Starts (or finds) a Kafka broker. */
export async function startKafka(): Promise<KafkaServer> {
  const fromEnv = process.env.KAFKA_BROKERS;
  if (fromEnv !== undefined && fromEnv !== '') {
    return { brokers: fromEnv.split(','), origin: 'env', stop: () => Promise.resolve() };
  }
  if (await containerRuntimeWorks()) {
    const { GenericContainer, Wait } = await import('testcontainers');
    const port = await freePort();
    const container = await new GenericContainer('apache/kafka:3.9.1')
      .withExposedPorts({ container: port, host: port })
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_LISTENERS: `PLAINTEXT://0.0.0.0:${port},CONTROLLER://0.0.0.0:9093`,
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${port}`,
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .start();
    return {
      brokers: [`127.0.0.1:${port}`],
      origin: 'container',
      stop: async () => {
        await container.stop();
      },
    };
  }
  const [port, controllerPort] = (await freePorts(2)) as [number, number];
  const dir = mkdtempSync(join(tmpdir(), 'ipvm-kafka-'));
  const child = await spawnScript(
    join(ROOT, 'infra/kafka/kafka.sh'),
    ['--port', String(port), '--controller-port', String(controllerPort)],
    ['--port', String(port), '--dir', dir],
    dir,
    120_000,
  ).catch((error: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  return { brokers: [`127.0.0.1:${port}`], origin: 'script', stop: stopChild(child, dir) };
}

/** Starts (or finds) a NATS server with JetStream. Never uses a server on the default port. */
export async function startNats(): Promise<NatsServer> {
  const fromEnv = process.env.NATS_URL;
  if (fromEnv !== undefined && fromEnv !== '') {
    return { url: fromEnv, origin: 'env', stop: () => Promise.resolve() };
  }
  if (await containerRuntimeWorks()) {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer('nats:2.10')
      .withCommand(['-js'])
      .withExposedPorts(4222)
      .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
      .start();
    return {
      url: `nats://${container.getHost()}:${container.getMappedPort(4222)}`,
      origin: 'container',
      stop: async () => {
        await container.stop();
      },
    };
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'ipvm-nats-'));
  const child = await spawnScript(
    join(ROOT, 'infra/nats/nats.sh'),
    ['--port', String(port)],
    ['--port', String(port), '--dir', dir],
    dir,
    30_000,
  ).catch((error: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  return { url: `nats://127.0.0.1:${port}`, origin: 'script', stop: stopChild(child, dir) };
}

/**
 * Starts a server, or — outside CI — returns `undefined` after printing why, so the caller can
 * skip its suite. With `CI=true` the failure is thrown: integration tests never skip in CI.
 */
export async function startOrSkip<T>(
  name: string,
  start: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await start();
  } catch (error) {
    if (process.env.CI === 'true') throw error;
    console.warn(`skipping ${name} integration tests: ${(error as Error).message}`);
    return undefined;
  }
}

/** A name unique to this process and call, for topics, streams and consumers. */
export function uniqueName(hint: string): string {
  uniqueCounter++;
  return `${hint}-${process.pid}-${Date.now().toString(36)}-${uniqueCounter}`;
}
let uniqueCounter = 0;
