// The discovery file: `ipvm start` writes `<data dir>/node.json` ({url, pid, …}) once its API
// listens and removes it on close, so `ipvm run`, `status`, `watch`, `sql` and `call` find the
// running node and go through it instead of fighting it for the data directory's locks.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The file's name in the data directory. */
export const DISCOVERY_FILE = 'node.json';

/** What the file says. */
export interface Discovery {
  /** The API's WebSocket URL. */
  url: string;
  /** The HTTP URL of the same API. */
  httpUrl: string;
  pid: number;
  nodeId: string;
  startedAt: number;
}

/** Writes the file (atomically: readers never see half of it). Returns a remover. */
export function writeDiscovery(dataDir: string, d: Discovery): () => void {
  const file = join(dataDir, DISCOVERY_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(d) + '\n');
  renameSync(tmp, file);
  return () => {
    try {
      // Only our own: a newer node may have replaced it.
      if (readDiscoveryFile(dataDir)?.pid === d.pid) rmSync(file, { force: true });
    } catch {
      // already gone
    }
  };
}

function readDiscoveryFile(dataDir: string): Discovery | undefined {
  let text: string;
  try {
    text = readFileSync(join(dataDir, DISCOVERY_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const d = JSON.parse(text) as Partial<Discovery>;
    if (typeof d.url !== 'string' || typeof d.pid !== 'number') return undefined;
    return d as Discovery;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The running node of a data directory, or undefined: no file, a file whose process is gone
 * (a node killed without cleaning up), or one whose API does not answer `/health` in time (the
 * pid was reused).
 */
export async function findRunningNode(
  dataDir: string,
  options: { timeoutMs?: number } = {},
): Promise<Discovery | undefined> {
  const d = readDiscoveryFile(dataDir);
  if (d === undefined || !alive(d.pid)) return undefined;
  try {
    const res = await fetch(`${d.httpUrl}/health`, {
      signal: AbortSignal.timeout(options.timeoutMs ?? 2_000),
    });
    await res.body?.cancel();
    return d;
  } catch {
    return undefined;
  }
}
