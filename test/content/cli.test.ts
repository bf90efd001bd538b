import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { registerAdd } from '../../cli/commands/add.ts';
import { registerCar } from '../../cli/commands/car.ts';

describe('ipvm add / car', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ipvm-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function cli(lines: string[], env: Record<string, string | undefined> = {}): Command {
    const program = new Command('ipvm').exitOverride();
    const ctx = { print: (l: string) => lines.push(l), env };
    registerAdd(program, ctx);
    registerCar(program, ctx);
    return program;
  }

  it('adds a file, exports a CAR and imports it into another data dir', async () => {
    const file = join(dir, 'f.bin');
    writeFileSync(file, Buffer.alloc(400_000, 7));
    const out: string[] = [];
    await cli(out).parseAsync(['add', file, '--data-dir', join(dir, 'a')], { from: 'user' });
    const cid = out[0]!;
    expect(cid).toMatch(/^bafybei/);
    const car = join(dir, 'x.car');
    await cli(out).parseAsync(
      ['car', 'export', `ipfs://${cid}`, '-o', car, '--data-dir', join(dir, 'a')],
      {
        from: 'user',
      },
    );
    const imported: string[] = [];
    await cli(imported, { IPVM_DATA_DIR: join(dir, 'b') }).parseAsync(['car', 'import', car], {
      from: 'user',
    });
    expect(imported).toEqual([cid]);
    const again: string[] = [];
    await cli(again, { IPVM_DATA_DIR: join(dir, 'b') }).parseAsync(['add', file], { from: 'user' });
    expect(again).toEqual([cid]);
  });

  it('fails an export of a CID it does not hold, naming it, and leaves no file behind', async () => {
    const missing = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';
    const car = join(dir, 'missing.car');
    await expect(
      cli([]).parseAsync(['car', 'export', missing, '-o', car, '--data-dir', join(dir, 'a')], {
        from: 'user',
      }),
    ).rejects.toThrow(missing);
    expect(existsSync(car)).toBe(false);
  });
});
