// The README's quickstart, executed: every line of the fenced block after the `quickstart`
// marker runs as written (through `sh`, from the repository root) against a temporary data
// directory, and must exit 0 — or the code its comment names ("exit code 1"). So the first
// steps a newcomer copies cannot rot.
import { exec as execCb } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execCb);
const root = join(import.meta.dirname, '..', '..');

interface Step {
  command: string;
  comment: string;
  expectedCode: number;
}

/** The commands of the first ```sh block after the quickstart marker. */
function quickstartSteps(readme: string): Step[] {
  const marker = readme.indexOf('<!-- quickstart');
  if (marker < 0) throw new Error('README has no <!-- quickstart --> marker');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(marker));
  if (block === null) throw new Error('no ```sh block after the quickstart marker');
  return block[1]!
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.trim().startsWith('#'))
    .map((l) => {
      const hash = l.indexOf(' #');
      const command = (hash < 0 ? l : l.slice(0, hash)).trim();
      const comment = hash < 0 ? '' : l.slice(hash + 2).trim();
      const code = /exit code (\d+)/.exec(comment);
      return { command, comment, expectedCode: code === null ? 0 : Number(code[1]) };
    });
}

let dataDir: string;
let steps: Step[];

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ipvm-readme-'));
  steps = quickstartSteps(await readFile(join(root, 'README.md'), 'utf8'));
});
afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe('README quickstart', () => {
  it('has the steps a newcomer needs', () => {
    expect(steps.map((s) => s.command)).toEqual(
      expect.arrayContaining(['npm run examples', 'npx ipvm run examples/workflows/add-one.json']),
    );
    expect(
      steps.every((s) => s.command.startsWith('npm ') || s.command.startsWith('npx ipvm ')),
    ).toBe(true);
  });

  it('runs every line as written, in order', async () => {
    const env: NodeJS.ProcessEnv = {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('IPVM_'))),
      IPVM_DATA_DIR: dataDir,
      PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
      // `npx ipvm` is this package's own bin: nothing may come from the registry.
      npm_config_offline: 'true',
      npm_config_update_notifier: 'false',
    };
    const outputs: string[] = [];
    for (const step of steps) {
      const { code, stdout, stderr } = await exec(step.command, {
        cwd: root,
        env,
        shell: '/bin/sh',
      }).then(
        (r) => ({ code: 0, ...r }),
        (err: { code: number; stdout: string; stderr: string }) => err,
      );
      expect(code, `${step.command}\n${stderr}`).toBe(step.expectedCode);
      outputs.push(stdout);
    }
    // The two runs of add-one: executed, then replayed.
    const runs = steps
      .map((s, i) => [s.command, outputs[i]!] as const)
      .filter(([c]) => c === 'npx ipvm run examples/workflows/add-one.json');
    expect(runs).toHaveLength(2);
    expect(runs[0]![1]).not.toContain('(replayed)');
    expect(runs[1]![1].match(/\(replayed\)/g)).toHaveLength(3);
  }, 300_000);
});
