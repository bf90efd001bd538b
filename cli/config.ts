// Where a flag's value comes from, first match wins:
//   1. the command line                    --data-dir /srv/ipvm
//   2. the environment                     IPVM_DATA_DIR=/srv/ipvm
//   3. the config file                     {"dataDir": "/srv/ipvm"} in ./ipvm.config.json or --config FILE
//   4. the command's default
// Applied once, before any command runs, to every option the command declares. Commander's own
// value sources (`cli`, `env`, `config`, `default`) carry the result; its `Option.env()` covers
// the environment but not a file, so both layers are filled here in one loop rather than half
// by commander and half by hand (a config library would add a third notion of precedence).
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';

/** The config file looked for in the working directory when `--config` is not given. */
export const CONFIG_FILE = 'ipvm.config.json';

/** Environment variable of each shared option (by commander attribute name). */
export const ENV_VARS: Readonly<Record<string, string>> = {
  dataDir: 'IPVM_DATA_DIR',
  backend: 'IPVM_BACKEND',
  brokers: 'KAFKA_BROKERS',
  natsUrl: 'NATS_URL',
  namespace: 'IPVM_NAMESPACE',
  concurrency: 'IPVM_CONCURRENCY',
  bidWindow: 'IPVM_BID_WINDOW',
  heapGrowth: 'IPVM_HEAP_GROWTH',
  youngGeneration: 'IPVM_YOUNG_GENERATION',
  fsync: 'IPVM_FSYNC',
  largeValue: 'IPVM_LARGE_VALUE_BYTES',
  rpcPort: 'IPVM_RPC_PORT',
  rpcHost: 'IPVM_RPC_HOST',
  rpcAllowedHosts: 'IPVM_RPC_ALLOWED_HOSTS',
  rpcAllowedOrigins: 'IPVM_RPC_ALLOWED_ORIGINS',
  logLevel: 'IPVM_LOG_LEVEL',
  node: 'IPVM_NODE',
  allowNet: 'IPVM_ALLOW_NET',
  config: 'IPVM_CONFIG',
  auth: 'IPVM_AUTH',
  trust: 'IPVM_TRUST',
};

/** Keys a config file may set (camelCase; kebab-case is accepted too). */
export const CONFIG_KEYS = [
  'dataDir',
  'backend',
  'brokers',
  'natsUrl',
  'namespace',
  'concurrency',
  'bidWindow',
  'heapGrowth',
  'youngGeneration',
  'fsync',
  'largeValue',
  'rpcPort',
  'rpcHost',
  'rpcAllowedHosts',
  'rpcAllowedOrigins',
  'logLevel',
  'auth',
  'trust',
  'node',
  'allowNet',
] as const;

/** A config file that cannot be read or has unknown keys: a usage error (exit 2). */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly retryable = false;
  readonly usage = true;
  /** The file. */
  readonly file: string;
  constructor(file: string, message: string, options?: ErrorOptions) {
    super(`${file}: ${message}`, options);
    this.file = file;
  }
}

const camel = (key: string): string => key.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

/** Reads a config file: a JSON object of {@link CONFIG_KEYS}; values are strings, numbers or booleans. */
export function readConfigFile(file: string): Record<string, string> {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(file, `cannot read config: ${(err as Error).message}`, { cause: err });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError(file, 'expected a JSON object');
  const out: Record<string, string> = {};
  for (const [rawKey, v] of Object.entries(value as Record<string, unknown>)) {
    const key = camel(rawKey);
    if (!(CONFIG_KEYS as readonly string[]).includes(key))
      throw new ConfigError(
        file,
        `unknown key ${JSON.stringify(rawKey)} (known: ${CONFIG_KEYS.join(', ')})`,
      );
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')
      throw new ConfigError(file, `${rawKey}: expected a string, number or boolean`);
    out[key] = String(v);
  }
  return out;
}

/** The config file in use: `--config FILE` / `IPVM_CONFIG`, else `./ipvm.config.json` if present. */
export function findConfigFile(
  explicit: string | undefined,
  cwd = process.cwd(),
): string | undefined {
  if (explicit !== undefined) {
    const file = resolve(cwd, explicit);
    if (!existsSync(file)) throw new ConfigError(file, 'config file not found');
    return file;
  }
  const file = resolve(cwd, CONFIG_FILE);
  return existsSync(file) ? file : undefined;
}

/**
 * Fills the options of `command` that were not given on the command line from the environment,
 * then from the config file. Returns the file used, if any.
 */
export function applyConfig(
  command: Command,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const globals = command.optsWithGlobals<{ config?: string }>();
  const file = findConfigFile(globals.config ?? env.IPVM_CONFIG);
  const config = file === undefined ? {} : readConfigFile(file);
  for (let c: Command | null = command; c !== null; c = c.parent) {
    for (const option of c.options) {
      const key = option.attributeName();
      if (key === 'config' || c.getOptionValueSource(key) === 'cli') continue;
      const envName = ENV_VARS[key];
      const fromEnv = envName === undefined ? undefined : env[envName];
      if (fromEnv !== undefined && fromEnv !== '') c.setOptionValueWithSource(key, fromEnv, 'env');
      else if (config[key] !== undefined) c.setOptionValueWithSource(key, config[key], 'config');
    }
  }
  return file;
}
