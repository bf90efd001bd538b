// The CLI's remote mode: which running node a command talks to (`--node URL`, IPVM_NODE, or the
// node announced in the data directory's node.json), and the connection to it.
import type { Command } from 'commander';
import type { IpvmClient } from '../client/index.ts';
import { resolveDataDir } from '../processors/content/index.ts';
import { findRunningNode } from './discovery.ts';

/** Flags of a command that can go through a running node. */
export interface RemoteFlags {
  node?: string;
  dataDir?: string;
}

/** Adds `--node URL`. */
export function remoteOption(command: Command): Command {
  return command.option(
    '--node <url>',
    "a running node's API (ws://HOST:PORT); default: the node running on --data-dir, if any (env IPVM_NODE)",
  );
}

/** Where the command should go: the node's URL and how it was found, or undefined (embedded). */
export async function findNode(
  flags: RemoteFlags,
): Promise<{ url: string; where: string } | undefined> {
  if (flags.node !== undefined && flags.node !== '') return { url: flags.node, where: flags.node };
  const dataDir = resolveDataDir(flags.dataDir);
  const found = await findRunningNode(dataDir);
  return found === undefined ? undefined : { url: found.url, where: dataDir };
}

/** Connects to a node (the client library loads only here). */
export async function connectNode(url: string): Promise<IpvmClient> {
  const { connect } = await import('../client/index.ts');
  return connect(url);
}

/**
 * Runs `remote` through the node the flags point at, else `embedded`; when the embedded path
 * finds the data directory locked by a node still starting (its API not announced yet), waits
 * for the announcement and goes through it.
 */
export async function throughNode<T>(
  flags: RemoteFlags,
  remote: (node: { url: string; where: string }) => Promise<T>,
  embedded: () => Promise<T>,
  options: { waitMs?: number } = {},
): Promise<T> {
  const found = await findNode(flags);
  if (found !== undefined) return remote(found);
  try {
    return await embedded();
  } catch (err) {
    const name = (err as Error).name;
    if (name !== 'LogLockedError' && name !== 'TablesLockedError') throw err;
    const deadline = Date.now() + (options.waitMs ?? 15_000);
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      const later = await findNode(flags);
      if (later !== undefined) return remote(later);
    }
    throw err;
  }
}
