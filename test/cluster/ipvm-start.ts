// `ipvm start` as a child process, for the tests that run whole nodes.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'cli', 'bin.js');

/**
 * Starts `ipvm start --rpc-port 0 …args` (pushed on `children` for the caller to stop) and
 * resolves with its `rpc` URL once it printed it.
 */
export function startIpvm(args: string[], children: ChildProcess[]): Promise<string> {
  const child = spawn(process.execPath, [bin, 'start', '--rpc-port', '0', ...args], { cwd: root });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /rpc ws:\/\/([^\s]+)/.exec(out);
      if (m !== null) resolve(`http://${m[1]}`);
    });
    child.once('exit', (code) => reject(new Error(`ipvm start exited ${code}: ${out}\n${err}`)));
  });
}
