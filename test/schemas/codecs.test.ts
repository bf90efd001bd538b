import * as ipldDagCbor from '@ipld/dag-cbor';
import * as ipldDagJson from '@ipld/dag-json';
import fc from 'fast-check';
import { CID } from 'multiformats/cid';
import { describe, expect, it } from 'vitest';
import {
  DecodeError,
  EncodeError,
  IpldFloat,
  dagCbor,
  dagJson,
  decodeAuto,
  type IpldValue,
} from '../../schemas/index.ts';
import {
  decodeTokens,
  encodeJsonTokens,
  encodeOrderedMap,
  keyOrder,
} from '../../schemas/codecs.ts';
import { readDagCbor } from '../../schemas/dag-cbor-read.ts';
import { readDagJson } from '../../schemas/dag-json-read.ts';
import { dagJsonText, Unusual } from '../../schemas/dag-json-text.ts';
import {
  describeIpld,
  fromHex,
  hex,
  ipldKey,
  ipldValue,
  SAFE_INTEGER_EDGES,
} from './arbitraries.ts';

const LINK = CID.parse('bafyrmihmxmsbt4n3g6dzmj7rho34mzfbaoqqbsfcq7etsogslqftbyj7du');
// FC_RUNS=20000 for a deeper search than the default run.
const RUNS = { numRuns: Number(process.env.FC_RUNS ?? 500) };

describe('DAG-CBOR', () => {
  it('decode ∘ encode is the identity on IPLD values, and re-encoding is byte-exact', () => {
    fc.assert(
      fc.property(ipldValue(), (value) => {
        const bytes = dagCbor.encode(value);
        const back = dagCbor.decode(bytes);
        expect(describeIpld(back)).toEqual(describeIpld(value));
        expect(hex(dagCbor.encode(back))).toBe(hex(bytes));
      }),
      RUNS,
    );
  });

  it('writes the same bytes as @ipld/dag-cbor for values without integral floats', () => {
    fc.assert(
      fc.property(ipldValue({ plainFloats: true }), (value) => {
        expect(hex(dagCbor.encode(value))).toBe(hex(ipldDagCbor.encode(value)));
      }),
      RUNS,
    );
  });

  it('writes strings of any length as @ipld/dag-cbor does (short ASCII ones by hand)', () => {
    // Up to 255 code units a string is written by a loop until a non-ASCII unit shows up.
    const text = fc.oneof(
      fc.string({ unit: fc.constantFrom('a', 'Z', '/', ':', '~', '\u007f'), maxLength: 300 }),
      fc
        .tuple(
          fc.string({ unit: 'grapheme-ascii', minLength: 20, maxLength: 300 }),
          fc.nat(),
          fc.constantFrom('é', '€', '𝄞', '\u0080', '\u07ff'),
        )
        .map(([s, at, c]) => s.slice(0, at % (s.length + 1)) + c + s.slice(at % (s.length + 1))),
    );
    fc.assert(
      fc.property(text, (s) => {
        expect(hex(dagCbor.encode(s))).toBe(hex(ipldDagCbor.encode(s)));
        expect(hex(dagCbor.encode({ [s]: s }))).toBe(hex(ipldDagCbor.encode({ [s]: s })));
      }),
      RUNS,
    );
  });

  it('writes a map in a key order worked out once as it writes any map', () => {
    // encodeOrderedMap (the envelopes a node writes most) against encode, for maps with some of
    // the order's keys, plus fixed entries; maps outside the order take encode's way.
    const keys = fc.uniqueArray(
      ipldKey.filter((k) => !(k in Object.prototype)),
      { minLength: 1, maxLength: 8 },
    );
    const value = ipldValue({ maxDepth: 2 });
    fc.assert(
      fc.property(
        keys,
        fc.array(value, { minLength: 8, maxLength: 8 }),
        fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
        fc.nat(3),
        fc.option(fc.tuple(ipldKey, value), { nil: undefined }),
        fc.boolean(),
        (ks, values, given, fixedCount, stray, shortLived) => {
          const fixedKeys = ks.slice(0, Math.min(fixedCount, ks.length - 1));
          const fixed = Object.fromEntries(fixedKeys.map((k, i) => [k, values[i]!]));
          const order = keyOrder(
            ks.filter((k) => !fixedKeys.includes(k)),
            fixed,
          );
          const map: Record<string, IpldValue> = {};
          ks.forEach((k, i) => {
            if (!fixedKeys.includes(k) && given[i]) map[k] = values[i]!;
          });
          if (stray !== undefined) map[stray[0]] = stray[1];
          expect(hex(encodeOrderedMap(map, order, shortLived))).toBe(
            hex(dagCbor.encode({ ...fixed, ...map })),
          );
        },
      ),
      RUNS,
    );
    const order = keyOrder(['a', 'bb'], { v: 1 });
    expect(() => encodeOrderedMap({ a: undefined }, order)).toThrow(/undefined \(under key "a"\)/);
    expect(() => keyOrder(['toString'])).toThrow(/Object.prototype/);
  });

  it('reads what @ipld/dag-cbor writes', () => {
    fc.assert(
      fc.property(ipldValue({ plainFloats: true }), (value) => {
        const bytes = ipldDagCbor.encode(value);
        expect(hex(dagCbor.encode(dagCbor.decode(bytes)))).toBe(hex(bytes));
      }),
      RUNS,
    );
  });

  it('encodes known vectors', () => {
    const cases: Array<[unknown, string]> = [
      [0, '00'],
      [23, '17'],
      [24, '1818'],
      [-1, '20'],
      [-25, '3818'],
      [2 ** 32, '1b0000000100000000'],
      [0xffff_ffff_ffff_ffffn, '1bffffffffffffffff'],
      [-0x8000_0000_0000_0000n, '3b7fffffffffffffff'],
      [5n, '05'],
      [new IpldFloat(1), 'fb3ff0000000000000'],
      [1.5, 'fb3ff8000000000000'],
      [new IpldFloat(-0), 'fb8000000000000000'],
      [-0, '00'], // a plain -0 is the integer 0
      [2 ** 64, 'fb43f0000000000000'], // an integral number beyond the safe range is a float
      [null, 'f6'],
      [true, 'f5'],
      [false, 'f4'],
      ['', '60'],
      ['é', '62c3a9'],
      [new Uint8Array([1, 2]), '420102'],
      [[], '80'],
      [{}, 'a0'],
      // keys sorted by length, then bytewise
      [{ bb: 1, a: 2, c: 3, é: 4 }, 'a4616102616303626262016' + '2c3a904'],
      [LINK, 'd82a58250001711620ecbb2419f1bb37879627f13bb7c664a103a100c8a287c93938d25c0b30e13f1d'],
    ];
    for (const [value, expected] of cases)
      expect(hex(dagCbor.encode(value)), String(value)).toBe(expected);
  });

  it('sorts the keys of small and large maps as @ipld/dag-cbor does', () => {
    // Small maps are sorted in place, large ones by Array.prototype.sort: both sides of the cut.
    for (const n of [2, 3, 16, 31, 32, 33, 40, 200]) {
      const keys = Array.from({ length: n }, (_, i) => `k${(i * 7919) % 1000}`.repeat(1 + (i % 3)));
      for (const order of [keys, [...keys].reverse(), [...keys].sort()]) {
        const value = Object.fromEntries(order.map((k, i) => [k, i]));
        expect(hex(dagCbor.encode(value)), `${n} keys`).toBe(hex(ipldDagCbor.encode(value)));
      }
    }
  });

  it('sorts non-ASCII keys by their UTF-8 bytes', () => {
    // UTF-16 order would put U+FF61 (3 UTF-8 bytes: ef bd a1) after U+10000 (surrogates d800…),
    // while UTF-8 byte order puts the shorter first.
    const value = { '\u{10000}': 1, '\uff61': 2 };
    expect(hex(dagCbor.encode(value))).toBe(hex(ipldDagCbor.encode(value)));
    expect(Object.keys(dagCbor.decode(dagCbor.encode(value)) as object)).toEqual([
      '\uff61',
      '\u{10000}',
    ]);
  });

  it('refuses values outside the data model with EncodeError', () => {
    const circular: Record<string, unknown> = {};
    circular.self = { again: circular };
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const bad: unknown[] = [
      NaN,
      Infinity,
      new IpldFloat(NaN),
      new IpldFloat(-Infinity),
      undefined,
      { a: undefined },
      [1, undefined],
      2n ** 64n,
      -(2n ** 63n) - 1n,
      new Map([['a', 1]]),
      new Set([1]),
      new Date(0),
      () => 1,
      Symbol('x'),
      '\ud800',
      circular,
      deep,
    ];
    for (const value of bad)
      expect(() => dagCbor.encode(value), String(typeof value)).toThrow(EncodeError);
  });

  it('encodes long and non-ASCII strings exactly', () => {
    for (const s of [
      'a'.repeat(23),
      'a'.repeat(24),
      'a'.repeat(63),
      'a'.repeat(64),
      'é'.repeat(100),
      '€'.repeat(30000),
      '𝄞x'.repeat(10),
    ]) {
      expect(hex(dagCbor.encode(s))).toBe(hex(ipldDagCbor.encode(s)));
    }
  });

  it('reads the value the general path (cborg tokens) reads, from the fast reader where it can', () => {
    const outcome = (read: () => unknown): string => {
      try {
        return JSON.stringify(describeIpld(read()));
      } catch (err) {
        return `${(err as Error).name}: ${(err as Error).message}`;
      }
    };
    let fast = 0;
    let whole = 0;
    // The bytes of arbitrary values (ours and @ipld/dag-cbor's), and mangled: a byte dropped,
    // replaced or repeated, or a tail cut (errors must be the general path's, offsets included).
    fc.assert(
      fc.property(
        ipldValue({ plainFloats: true }),
        fc.boolean(),
        fc.nat(),
        fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 255 }),
        (value, theirs, at, how, byte) => {
          const bytes = theirs ? ipldDagCbor.encode(value) : dagCbor.encode(value);
          const i = at % Math.max(bytes.length, 1);
          const mangled = [
            () => bytes,
            () => Uint8Array.of(...bytes.subarray(0, i), ...bytes.subarray(i + 1)),
            () => Uint8Array.of(...bytes.subarray(0, i), byte, ...bytes.subarray(i + 1)),
            () => Uint8Array.of(...bytes.subarray(0, i + 1), ...bytes.subarray(i)),
            () => bytes.slice(0, i),
          ][how]!();
          const general = outcome(() => decodeTokens(mangled, 'dag-cbor'));
          expect(outcome(() => dagCbor.decode(mangled))).toBe(general);
          const read = readDagCbor(mangled, 256);
          if (read !== undefined) {
            expect(JSON.stringify(describeIpld(read))).toBe(general);
            if (how === 0) fast++;
          }
          if (how === 0) whole++;
        },
      ),
      RUNS,
    );
    // Short arbitrary bytes: heads of every kind, well-formed or not.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (raw) => {
        expect(outcome(() => dagCbor.decode(raw))).toBe(
          outcome(() => decodeTokens(raw, 'dag-cbor')),
        );
      }),
      RUNS,
    );
    // Much of it takes the fast path (arbitrary values hold bigints it leaves).
    expect(fast).toBeGreaterThan(whole / 4);
    // Heads at their edges, links, bytes, floats: read here, as the general path reads them.
    const edges = [
      ...SAFE_INTEGER_EDGES,
      1.5,
      new IpldFloat(2),
      new IpldFloat(-0),
      'é€𝄞',
      'x'.repeat(300),
      new Uint8Array(70_000).fill(9),
      LINK,
      { b: [true, false, null], a: {}, '': [] },
    ];
    const bytes = dagCbor.encode(edges);
    expect(readDagCbor(bytes, 256)).toBeDefined();
    expect(outcome(() => readDagCbor(bytes, 256))).toBe(
      outcome(() => decodeTokens(bytes, 'dag-cbor')),
    );
    // And what it leaves to the general path: -2^53 and 2^64 (bigints), a non-minimal head,
    // a half float, undefined, an indefinite list, tag 43, a number key, a duplicate key,
    // `__proto__`, a bad UTF-8 string, a link without its 0x00, a byte after the value.
    for (const text of [
      '3b001fffffffffffff',
      '1bffffffffffffffff',
      '1817',
      'f93c00',
      'f7',
      '9f01ff',
      'd82b4100',
      'a10101',
      'a2616101616102',
      'a1695f5f70726f746f5f5f01',
      '62c328',
      'd82a420171',
      '0000',
    ]) {
      const b = fromHex(text);
      expect(readDagCbor(b, 256), text).toBeUndefined();
      expect(outcome(() => dagCbor.decode(b))).toBe(outcome(() => decodeTokens(b, 'dag-cbor')));
    }
  });

  it('is not confused by a getter that encodes while it encodes', () => {
    const inner = { x: 'inner' };
    const outer = {
      get a() {
        return hex(dagCbor.encode(inner));
      },
    };
    expect(dagCbor.decode(dagCbor.encode(outer))).toEqual({ a: hex(dagCbor.encode(inner)) });
  });
});

describe('DAG-JSON', () => {
  it('decode ∘ encode is the identity on IPLD values', () => {
    fc.assert(
      fc.property(ipldValue({ json: true }), (value) => {
        const text = dagJson.stringify(value);
        const back = dagJson.decode(text);
        expect(describeIpld(back)).toEqual(describeIpld(value));
        expect(dagJson.stringify(back)).toBe(text);
        // the same value, so the same DAG-CBOR bytes and CID
        expect(hex(dagCbor.encode(back))).toBe(hex(dagCbor.encode(value)));
      }),
      RUNS,
    );
  });

  it('reads what @ipld/dag-json writes', () => {
    fc.assert(
      fc.property(ipldValue({ json: true, plainFloats: true }), (value) => {
        const bytes = ipldDagJson.encode(value);
        expect(hex(dagCbor.encode(dagJson.decode(bytes)))).toBe(
          hex(dagCbor.encode(ipldDagJson.decode(bytes))),
        );
      }),
      RUNS,
    );
  });

  it('writes the text of the general path (cborg tokens), from the fast path where it can', () => {
    const general = (v: unknown): string => new TextDecoder().decode(encodeJsonTokens(v));
    let fast = 0;
    fc.assert(
      // Without the json option: maps with a "/" key too, which the fast path leaves.
      fc.property(ipldValue(), (value) => {
        const text = general(value);
        expect(dagJson.stringify(value)).toBe(text);
        expect(new TextDecoder().decode(dagJson.encode(value))).toBe(text);
        try {
          expect(dagJsonText(value)).toBe(text);
          fast++;
        } catch (err) {
          expect(err).toBeInstanceOf(Unusual);
        }
      }),
      RUNS,
    );
    // Most values take the fast path (bigints and "/" keys are what it leaves).
    expect(fast).toBeGreaterThan(RUNS.numRuns / 2);
    // Keys in JavaScript's string order, escapes and non-ASCII text as JSON.stringify has them.
    const awkward = { '𝄞': 1, '\uffff': 2, b: 'a"b\\c\n\u0001é', a: [1.5, -0, 2 ** 60, 1e21] };
    expect(dagJsonText(awkward)).toBe(general(awkward));
    expect(dagJsonText(awkward)).toBe(
      '{"a":[1.5,0,1152921504606847000.0,1e+21],"b":"a\\"b\\\\c\\n\\u0001é","𝄞":1,"\uffff":2}',
    );
  });

  it('fails on values outside the data model as the general path does', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const deep = JSON.parse('['.repeat(20_000) + ']'.repeat(20_000)) as unknown;
    const cases: unknown[] = [
      { a: undefined },
      [1, undefined],
      new Map([['a', 1]]),
      Number.NaN,
      { x: Number.POSITIVE_INFINITY },
      new IpldFloat(Number.NaN),
      'lone \ud800 surrogate',
      { ['\udc00']: 1 },
      2n ** 64n,
      () => 1,
      Symbol('s'),
      cyclic,
      deep,
    ];
    const outcome = (f: () => unknown): string => {
      try {
        return `ok ${String(f())}`;
      } catch (err) {
        return `${(err as Error).name}: ${(err as Error).message}`;
      }
    };
    for (const value of cases) {
      const general = outcome(() => new TextDecoder().decode(encodeJsonTokens(value)));
      expect(outcome(() => dagJson.stringify(value))).toBe(general);
    }
  });

  it('reads the value the general path (cborg tokens) reads, from the fast reader where it can', () => {
    const utf8 = new TextEncoder();
    const general = (bytes: Uint8Array): string => {
      try {
        return JSON.stringify(describeIpld(decodeTokens(bytes, 'dag-json')));
      } catch (err) {
        return `${(err as Error).name}: ${(err as Error).message}`;
      }
    };
    const fastOrNot = (bytes: Uint8Array): string => {
      try {
        return JSON.stringify(describeIpld(dagJson.decode(bytes)));
      } catch (err) {
        return `${(err as Error).name}: ${(err as Error).message}`;
      }
    };
    let fast = 0;
    let whole = 0;
    // The text of arbitrary values, with blanks between tokens, and mangled: a byte dropped,
    // replaced or repeated (errors must be the general path's, offsets included).
    const blank = fc.constantFrom('', ' ', '\n', '\t', '\r\n  ');
    fc.assert(
      fc.property(
        ipldValue(),
        blank,
        blank,
        fc.nat(),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 255 }),
        (value, before, after, at, how, byte) => {
          const text = before + dagJson.stringify(value).replace(/([,:[{])/g, `$1${after}`) + after;
          const bytes = utf8.encode(text);
          const i = at % Math.max(bytes.length, 1);
          const mangled =
            how === 0
              ? bytes
              : how === 1
                ? Uint8Array.of(...bytes.subarray(0, i), ...bytes.subarray(i + 1))
                : how === 2
                  ? Uint8Array.of(...bytes.subarray(0, i), byte, ...bytes.subarray(i + 1))
                  : Uint8Array.of(...bytes.subarray(0, i + 1), ...bytes.subarray(i));
          expect(fastOrNot(mangled)).toBe(general(mangled));
          const read = readDagJson(mangled, 256);
          if (read !== undefined) {
            expect(JSON.stringify(describeIpld(read))).toBe(general(mangled));
            if (how === 0) fast++;
          }
          if (how === 0) whole++;
        },
      ),
      RUNS,
    );
    // Short texts over JSON's own characters: every token in odd places.
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...'{}[]":,0123456789-+.eEtrufalsn \t\\/ab'.split('')), {
          maxLength: 14,
        }),
        (chars) => {
          const bytes = utf8.encode(chars.join(''));
          expect(fastOrNot(bytes), chars.join('')).toBe(general(bytes));
        },
      ),
      RUNS,
    );
    // Number texts, well-formed or nearly (cborg's own number grammar is narrower than JSON's:
    // `0e0` is an error to it), alone and in a list.
    fc.assert(
      fc.property(
        fc.stringMatching(/^-?(0|0[0-9]|[1-9][0-9]{0,19})?(\.[0-9]{0,4})?([eE][+-]?[0-9]{0,3})?$/),
        fc.boolean(),
        (number, inList) => {
          const bytes = utf8.encode(inList ? `[${number}]` : number);
          expect(fastOrNot(bytes), number).toBe(general(bytes));
        },
      ),
      RUNS,
    );
    // Much of the well-formed text takes the fast path (arbitrary values are often outside it:
    // escapes, bigints, `/` keys).
    expect(fast).toBeGreaterThan(whole / 4);
    // Forms and numbers it reads itself, as the general path reads them.
    const link = `{"/":"${LINK.toString()}"}`;
    for (const text of [
      `{"a":${link},"b":{"/":{"bytes":"AQID"}},"c":[1.0,-0.0,1e3,1.5,-7,0,"é€𝄞"]}`,
      ` [ true , false , null , { } , [ ] ] `,
      // The safe range's edges, and a last digit that would round if added after the scale.
      '[9007199254740991,-9007199254740991,9007199254740965,-9007199254740965,123456789012345]',
    ]) {
      const bytes = utf8.encode(text);
      expect(readDagJson(bytes, 256)).toBeDefined();
      expect(JSON.stringify(describeIpld(readDagJson(bytes, 256)))).toBe(general(bytes));
    }
    // And what it leaves to the general path.
    for (const text of [
      '"a\\nb"',
      '9007199254740993',
      '-0',
      '{"a":1,"a":2}',
      '{"__proto__":1}',
      '{"/":"not a cid"}',
      `{"/":"${LINK.toString()}","x":1}`,
      '{"x":1,"/":2}',
      '[1,]',
      '01',
      '[0e0]',
      '[-0E1]',
      '1e400',
      '\ufeff[]',
      '[] x',
      '['.repeat(255) + ']'.repeat(255),
    ]) {
      const bytes = utf8.encode(text);
      expect(readDagJson(bytes, 256), text).toBeUndefined();
      expect(fastOrNot(bytes)).toBe(general(bytes));
    }
  });

  it('writes links, bytes and floats in the DAG-JSON forms', () => {
    expect(
      dagJson.stringify({
        l: LINK,
        b: new Uint8Array([1, 2, 3]),
        f: new IpldFloat(1),
        i: 1,
        z: new IpldFloat(-0),
      }),
    ).toBe(`{"b":{"/":{"bytes":"AQID"}},"f":1.0,"i":1,"l":{"/":"${LINK.toString()}"},"z":-0.0}`);
  });
});

describe("Homestar's number rules (serde_json)", () => {
  // The Rust reference reads JSON numbers with serde_json: an integer that fits u64 or i64 is an
  // integer; any other integer literal, and every literal with a fraction or exponent, is an f64.
  // Homestar's own fixtures depend on it: "fuel": 18446744073709552000 is the float 2^64.
  const read = (text: string): IpldValue => dagJson.decode(text);

  it('keeps integers up to u64::MAX and down to i64::MIN as integers', () => {
    expect(read('18446744073709551615')).toBe(0xffff_ffff_ffff_ffffn);
    expect(read('-9223372036854775808')).toBe(-0x8000_0000_0000_0000n);
    expect(read('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
    expect(read('9007199254740992')).toBe(2n ** 53n);
    expect(hex(dagCbor.encode(read('18446744073709551615')))).toBe('1bffffffffffffffff');
  });

  it('turns integers above u64 and below i64 into floats', () => {
    expect(read('18446744073709551616')).toBe(2 ** 64);
    expect(read('18446744073709552000')).toBe(2 ** 64);
    expect(read('-9223372036854775809')).toBe(-(2 ** 63));
    expect(read('100000000000000000000000')).toBe(1e23);
    expect(hex(dagCbor.encode(read('18446744073709552000')))).toBe('fb43f0000000000000');
    expect(hex(dagCbor.encode(read('-9223372036854775809')))).toBe('fbc3e0000000000000');
  });

  it('keeps 1.0 a float and 1 an integer', () => {
    expect(read('1.0')).toStrictEqual(new IpldFloat(1));
    expect(read('1')).toBe(1);
    expect(read('1e3')).toStrictEqual(new IpldFloat(1000));
    expect(read('-0.0')).toStrictEqual(new IpldFloat(-0));
    expect(read('0.5')).toBe(0.5);
    expect(hex(dagCbor.encode(read('1.0')))).toBe('fb3ff0000000000000');
    expect(hex(dagCbor.encode(read('1')))).toBe('01');
    expect(dagJson.stringify(read('[1.0, 1, 1e3]'))).toBe('[1.0,1,1000.0]');
  });

  it('keeps integral floats as floats through DAG-CBOR too', () => {
    expect(dagCbor.decode(fromHex('fb3ff0000000000000'))).toStrictEqual(new IpldFloat(1));
    expect(dagCbor.decode(fromHex('fb43f0000000000000'))).toBe(2 ** 64);
    expect(dagCbor.decode(fromHex('01'))).toBe(1);
  });
});

describe('decodeAuto', () => {
  it('tells DAG-JSON from DAG-CBOR by the first non-blank byte', () => {
    expect(decodeAuto(new TextEncoder().encode(' \n{"a": 1}'))).toEqual({
      value: { a: 1 },
      codec: 'dag-json',
    });
    expect(decodeAuto(new TextEncoder().encode('[1]'))).toEqual({ value: [1], codec: 'dag-json' });
    expect(decodeAuto(dagCbor.encode({ a: 1 }))).toEqual({ value: { a: 1 }, codec: 'dag-cbor' });
  });

  it('names the codec and the offset when neither fits', () => {
    expect(() => decodeAuto(new TextEncoder().encode('{"a": }'))).toThrow(
      /^dag-json at byte \d+: /,
    );
    expect(() => decodeAuto(fromHex('a1'))).toThrow(DecodeError);
  });
});
