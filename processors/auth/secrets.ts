/**
 * The node-local secret store: `<dataDir>/secrets.json`, file mode 0600, never in a workflow,
 * a log line or an event. A task names a secret with the argument `{"secret": "NAME"}`; the
 * value replaces it only when the task executes, and the task and everything downstream of it
 * are tainted (see `taint.ts`).
 *
 * @module
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SecretError } from './errors.ts';

/** File name of the store inside the data directory. */
export const SECRETS_FILE = 'secrets.json';

/** A stored secret. */
export interface SecretEntry {
  value: string;
  /** Hosts (`HOST[:PORT]`) an HTTP effect may send this secret (or anything derived from it) to. */
  allowHosts: string[];
}

/** The store. */
export interface SecretStore {
  /** Stores (or replaces) a secret. */
  set(name: string, value: string, options?: { allowHosts?: string[] }): void;
  /**
   * The secret's value.
   * @throws {SecretError} when no secret has that name
   */
  get(name: string): SecretEntry;
  /** True when a secret has that name. */
  has(name: string): boolean;
  /** The names (never the values). */
  names(): string[];
}

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** Opens the store of a data directory (created on the first `set`). */
export function createSecretStore(init: { dataDir: string }): SecretStore {
  const file = join(init.dataDir, SECRETS_FILE);
  const read = (): Record<string, SecretEntry> => {
    if (!existsSync(file)) return {};
    let all: unknown;
    try {
      all = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      // Never the file's text in the message: it holds the secrets.
      throw new SecretError(`${file}: not JSON (${(err as Error).name})`);
    }
    if (typeof all !== 'object' || all === null || Array.isArray(all))
      throw new SecretError(`${file}: expected an object of name → {value, allowHosts}`);
    return all as Record<string, SecretEntry>;
  };
  return {
    set(name, value, options) {
      if (!NAME.test(name))
        throw new SecretError(`secret name ${JSON.stringify(name)}: use letters, digits, _ . -`);
      const all = read();
      all[name] = { value, allowHosts: options?.allowHosts ?? [] };
      mkdirSync(init.dataDir, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(all), { mode: 0o600 });
      chmodSync(tmp, 0o600);
      renameSync(tmp, file);
    },
    get(name) {
      const entry = read()[name];
      if (entry === undefined)
        throw new SecretError(`no secret named ${JSON.stringify(name)} on this node`);
      return entry;
    },
    has: (name) => read()[name] !== undefined,
    names: () => Object.keys(read()),
  };
}
