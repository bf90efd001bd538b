import { CID } from 'multiformats/cid';
import { describe, expect, it } from 'vitest';
import { ValueMappingError } from '../../processors/wasm/errors.ts';
import { findExport, jsName, nameCandidates } from '../../processors/wasm/names.ts';
import { liftValue, lowerValue, MissingLink } from '../../processors/wasm/values.ts';
import { parseWorld, type WitType } from '../../processors/wasm/wit.ts';

const noLinks = { link: () => undefined };
const lower = (v: unknown, t: WitType, path = 'args[0]') => lowerValue(v, t, path, noLinks);
const CID_V1 = CID.parse('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy');

const world = parseWorld(`package root:component;

world root {
  import homestar:host/helpers@0.1.1;
  record point { x: s32, y: option<u8>, }
  variant shape { circle(f64), none, }
  enum color { red, dark-blue, }
  flags perms { read, write-all, }
  type bytes = list<u8>;
  export f: func(p: point, s: shape, c: color, q: perms, b: bytes) -> result<tuple<string, u64>, string>;
  export %g: func() -> list<tuple<string, u32>>;
}`);
const [f, g] = world.exports as [
  NonNullable<(typeof world.exports)[0]>,
  NonNullable<(typeof world.exports)[0]>,
];
const param = (i: number): WitType => f.params[i]!.type;

describe('WIT world reader', () => {
  it('reads exports with resolved named types and the imported interfaces', () => {
    expect(world.imports).toEqual(['homestar:host/helpers@0.1.1']);
    expect(f.params.map((p) => p.type.kind)).toEqual([
      'record',
      'variant',
      'enum',
      'flags',
      'list',
    ]);
    expect(f.result).toEqual({
      kind: 'result',
      ok: { kind: 'tuple', items: [{ kind: 'string' }, { kind: 'u64' }] },
      err: { kind: 'string' },
    });
    expect(g.name).toBe('g');
  });
});

describe('IPLD → WIT', () => {
  it('range-checks integers and names the location', () => {
    expect(lower(255, { kind: 'u8' })).toBe(255);
    expect(() => lower(300, { kind: 'u8' }, 'args[1].x')).toThrow(
      'args[1].x: expected u8, got 300',
    );
    expect(() => lower(-1, { kind: 'u32' })).toThrow('expected u32, got -1');
    expect(() => lower(1.5, { kind: 's32' })).toThrow('expected s32, got 1.5');
    expect(lower(5, { kind: 'u64' })).toBe(5n);
    expect(lower(2n ** 64n - 1n, { kind: 'u64' })).toBe(2n ** 64n - 1n);
    expect(() => lower(2n ** 64n, { kind: 'u64' })).toThrow(ValueMappingError);
    expect(() => lower(2n ** 63n, { kind: 's64' })).toThrow('expected s64');
  });

  it('maps floats, bools, chars and strings (Homestar: null, links and bytes become strings)', () => {
    expect(lower(1.1, { kind: 'f32' })).toBe(Math.fround(1.1));
    expect(lower(3, { kind: 'f64' })).toBe(3);
    expect(lower(true, { kind: 'bool' })).toBe(true);
    expect(() => lower(1, { kind: 'bool' })).toThrow('expected bool, got 1');
    expect(lower('é', { kind: 'char' })).toBe('é');
    expect(() => lower('ab', { kind: 'char' })).toThrow('expected char');
    expect(lower(null, { kind: 'string' })).toBe('null');
    expect(lower(CID_V1, { kind: 'string' })).toBe(CID_V1.toString());
    expect(lower(new Uint8Array([104, 105]), { kind: 'string' })).toBe('aGk');
  });

  it('maps bytes and lists, links to content for list<u8>, and maps to list<tuple<string, T>>', () => {
    const bytes = new Uint8Array([1, 2]);
    expect(lower(bytes, { kind: 'list', elem: { kind: 'u8' } })).toBe(bytes);
    expect(lower([1, 2], { kind: 'list', elem: { kind: 'u8' } })).toEqual(Uint8Array.from([1, 2]));
    expect(() => lower([1, 256], { kind: 'list', elem: { kind: 'u8' } })).toThrow(
      'args[0][1]: expected u8, got 256',
    );
    expect(() => lower({ '/': CID_V1.toString() }, { kind: 'list', elem: { kind: 'u8' } })).toThrow(
      MissingLink,
    );
    const content = new Uint8Array([9]);
    expect(
      lowerValue(CID_V1, { kind: 'list', elem: { kind: 'u8' } }, 'a', { link: () => content }),
    ).toBe(content);
    const tup: WitType = {
      kind: 'list',
      elem: { kind: 'tuple', items: [{ kind: 'string' }, { kind: 'u32' }] },
    };
    expect(lower({ a: 1, b: 2 }, tup)).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(() => lower({ a: -1 }, tup)).toThrow('args[0].a: expected u32, got -1');
  });

  it('maps records, variants, enums, flags, options and results', () => {
    expect(lower({ x: 1, y: 2 }, param(0))).toEqual({ x: 1, y: 2 });
    expect(lower({ x: 1 }, param(0))).toEqual({ x: 1, y: undefined });
    expect(() => lower({ y: 1 }, param(0))).toThrow('args[0].x: expected field of record point');
    expect(() => lower({ x: 1, y: 300 }, param(0), 'args[1]')).toThrow(
      'args[1].y: expected u8, got 300',
    );
    expect(lower({ circle: 2 }, param(1))).toEqual({ tag: 'circle', val: 2 });
    expect(lower('none', param(1))).toEqual({ tag: 'none' });
    expect(() => lower({ square: 1 }, param(1))).toThrow('expected a case of variant shape');
    expect(lower('dark-blue', param(2))).toBe('dark-blue');
    expect(() => lower('green', param(2))).toThrow('expected a case of enum color');
    expect(lower(['write-all'], param(3))).toEqual({ read: false, writeAll: true });
    expect(() => lower(['exec'], param(3))).toThrow('args[0][0]: expected a flag of perms');
    const opt: WitType = { kind: 'option', inner: { kind: 's32' } };
    expect(lower(null, opt)).toBeUndefined();
    expect(lower(4, opt)).toBe(4);
    const res: WitType = { kind: 'result', ok: { kind: 's32' }, err: { kind: 'string' } };
    expect(lower([1, null], res)).toEqual({ tag: 'ok', val: 1 });
    expect(lower([null, 'bad'], res)).toEqual({ tag: 'err', val: 'bad' });
    expect(lower({ ok: 1 }, res)).toEqual({ tag: 'ok', val: 1 });
    expect(() => lower(1, res)).toThrow('expected result');
  });
});

describe('WIT → IPLD', () => {
  it('follows Homestar: results as [ok, null] / [null, err], variants as single-key maps', () => {
    expect(liftValue({ tag: 'ok', val: ['a', 7n] }, f.result!, 'result')).toEqual([['a', 7], null]);
    expect(liftValue({ tag: 'err', val: 'no' }, f.result!, 'result')).toEqual([null, 'no']);
    expect(liftValue({ tag: 'ok' }, { kind: 'result' }, 'r')).toEqual([1, null]);
    expect(liftValue({ tag: 'none' }, param(1), 'r')).toEqual({ none: null });
    expect(liftValue({ x: 1, y: undefined }, param(0), 'r')).toEqual({ x: 1, y: null });
    expect(liftValue({ read: true, writeAll: true }, param(3), 'r')).toEqual(['read', 'write-all']);
    expect(liftValue([['k', 1]], g.result!, 'r')).toEqual({ k: 1 });
  });

  it('maps bytes, big integers, f32 and strings like Homestar', () => {
    const u8 = { kind: 'list', elem: { kind: 'u8' } } as const;
    expect(liftValue(new Uint8Array([1]), u8, 'r')).toEqual(new Uint8Array([1]));
    expect(liftValue(new Uint8Array(0), u8, 'r')).toEqual([]);
    expect(liftValue(2n ** 60n, { kind: 'u64' }, 'r')).toBe(2n ** 60n);
    expect(liftValue(5n, { kind: 's64' }, 'r')).toBe(5);
    expect(liftValue(Math.fround(3883.2), { kind: 'f32' }, 'r')).toBe(3883.2);
    expect(liftValue('null', { kind: 'string' }, 'r')).toBeNull();
    expect((liftValue(CID_V1.toString(), { kind: 'string' }, 'r') as CID).equals(CID_V1)).toBe(
      true,
    );
    expect(liftValue('plain', { kind: 'string' }, 'r')).toBe('plain');
  });
});

describe('export names', () => {
  it("tries Homestar's casing fallbacks in order", () => {
    expect(nameCandidates('add_one')).toEqual([
      'add_one',
      'ADD_ONE',
      'add-one',
      'addOne',
      'AddOne',
      '%add_one',
    ]);
    expect(findExport('add_one', (n) => n === 'add-one')).toBe('add-one');
    expect(findExport('addOne', (n) => n === 'add-one')).toBe('add-one');
    expect(findExport('nope', () => false)).toBeUndefined();
    expect(jsName('sum-bytes')).toBe('sumBytes');
  });
});
