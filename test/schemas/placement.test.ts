// meta.node / meta.needs: parsed and validated with the task's path; they live in the task's
// meta, so the instruction CID (the memo key) does not change with them.
import { describe, expect, it } from 'vitest';
import { parseWorkflow } from '../../schemas/model.ts';
import { readPlacement } from '../../schemas/placement.ts';
import { SchemaError } from '../../schemas/errors.ts';
import type { IpldValue } from '../../schemas/ipld.ts';

const RSC = 'ipfs://bafkreidsr2hsgtgmdy55skt5bfkb2jhkuaoa4ki6z4l3pvrr7tnfkqtyfq';
const task = (meta: IpldValue, arg = 1): IpldValue => ({
  run: { rsc: RSC, op: 'wasm/run', input: { func: 'add_one', args: [arg] }, nnc: '' },
  cause: null,
  meta,
  prf: [],
});

describe('placement meta', () => {
  it('reads node and needs', () => {
    expect(readPlacement({})).toBeUndefined();
    expect(readPlacement({ fuel: 10 })).toBeUndefined();
    expect(
      readPlacement({ node: 'did:key:z6Mk', needs: ['net:127.0.0.1:8080', 'secret:TOKEN'] }),
    ).toEqual({
      node: 'did:key:z6Mk',
      needs: [
        { kind: 'net', value: '127.0.0.1:8080', text: 'net:127.0.0.1:8080' },
        { kind: 'secret', value: 'TOKEN', text: 'secret:TOKEN' },
      ],
    });
    const cid = RSC.slice(7);
    expect(
      readPlacement({ needs: [`module:${cid}`, `data:${cid}`] })!.needs.map((n) => n.kind),
    ).toEqual(['module', 'data']);
  });

  it('refuses a malformed one with the task index and field', () => {
    const cases: Array<[IpldValue, string]> = [
      [{ node: '' }, 'tasks[1].meta.node'],
      [{ node: 7 }, 'tasks[1].meta.node'],
      [{ needs: 'net:a' }, 'tasks[1].meta.needs'],
      [{ needs: ['net:a', 'gpu:1'] }, 'tasks[1].meta.needs[1]'],
      [{ needs: ['module:nope'] }, 'tasks[1].meta.needs[0]'],
      [{ needs: ['net:'] }, 'tasks[1].meta.needs[0]'],
      [{ needs: ['net:http://a/b'] }, 'tasks[1].meta.needs[0]'],
      [{ needs: [3] }, 'tasks[1].meta.needs[0]'],
    ];
    for (const [meta, path] of cases) {
      let error: unknown;
      try {
        parseWorkflow({ tasks: [task({}), task(meta, 2)] });
      } catch (err) {
        error = err;
      }
      expect(error, JSON.stringify(meta)).toBeInstanceOf(SchemaError);
      expect((error as SchemaError).path, JSON.stringify(meta)).toBe(path);
    }
  });

  it('leaves the instruction CID alone (the invocation carries the meta)', () => {
    const plain = parseWorkflow({ tasks: [task({})] }).tasks[0]!;
    const placed = parseWorkflow({ tasks: [task({ node: 'did:key:z6Mk', needs: ['secret:A'] })] })
      .tasks[0]!;
    expect(placed.instruction.toString()).toBe(plain.instruction.toString());
    expect(placed.invocation.toString()).not.toBe(plain.invocation.toString());
  });
});
