// A script run in a Node process of its own, for what is per process (V8's flags, the heap):
// the script's text is written to a temporary directory, which it can use through
// `process.env.PROBE_DIR`, and removed after.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Runs `script` (an ES module's text) with `nodeArgs` before it and `args` after, in `env`
 * (default: this process's); its stdout.
 */
export async function runProbe(
  script: string,
  options: { nodeArgs?: string[]; args?: string[]; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ipvm-probe-'));
  try {
    const file = join(dir, 'probe.mjs');
    await writeFile(file, script);
    const { stdout } = await run(
      process.execPath,
      [...(options.nodeArgs ?? []), file, ...(options.args ?? [])],
      { env: { ...(options.env ?? process.env), PROBE_DIR: dir } },
    );
    return stdout;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
