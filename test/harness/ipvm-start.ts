// `ipvm start` as a user runs it, in the background: a spawned process on a data directory,
// ready once it prints the URL of its API.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');

/** A running `ipvm start` and the WebSocket URL it announced. */
export interface StartedNode {
  child: ChildProcessWithoutNullStreams;
  url: string;
}

/**
 * Starts `ipvm start --data-dir DIR [ARGS…]` and waits for its `rpc ws://…` line (rejects if it
 * exits). `bin`: another `ipvm` than this clone's (an installed package's `cli/bin.js`), run in
 * its package's directory.
 */
export async function startIpvmNode(
  dataDir: string,
  timeoutMs = 60_000,
  args: readonly string[] = [],
  bin = join(root, 'cli', 'bin.js'),
): Promise<StartedNode> {
  const child = spawn(
    process.execPath,
    [bin, 'start', '--data-dir', dataDir, '--log-level', 'warn', ...args],
    { cwd: join(bin, '..', '..') },
  );
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready: ${out}`)), timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /rpc (ws:\/\/[\d.:]+)\n/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => reject(new Error(`ipvm start exited ${code}`)));
  });
  return { child, url };
}
