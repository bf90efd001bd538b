// A corpus of malformed inputs. Every one must end in a FormatError whose message says where:
// a field path (`tasks[0].run.rsc: …`) or a byte offset (`dag-json at byte 12: …`). Never a
// TypeError, a RangeError (stack overflow), a hang, or a megabyte-long message.
import { CID } from 'multiformats/cid';
import { describe, expect, it } from 'vitest';
import {
  cidOf,
  dagCbor,
  dagJson,
  DecodeError,
  decodeEvent,
  encodeEvent,
  FormatError,
  parseReceipt,
  parseWorkflow,
  SchemaError,
  topologicalOrder,
  WorkflowError,
  type IpldMap,
  type IpldValue,
} from '../../schemas/index.ts';
import { fromHex } from './arbitraries.ts';

const WASM = 'ipfs://bafybeibk42jwhq7w2zcpe6q3wgtleugp3ymfs3pa5gerjmnakqihhqx4zq';
const LINK = 'bafyrmihmxmsbt4n3g6dzmj7rho34mzfbaoqqbsfcq7etsogslqftbyj7du';
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Runs `fn`, which must throw a located FormatError of class `cls` matching `where`. */
function expectLocated(
  fn: () => unknown,
  where: RegExp,
  cls: abstract new (...args: never[]) => Error = FormatError,
): Error {
  let error: unknown = null;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(error, 'must throw').not.toBeNull();
  expect(error).toBeInstanceOf(cls);
  expect(error).toBeInstanceOf(FormatError);
  const e = error as FormatError;
  expect(e.message).toMatch(where);
  expect(e.message.length).toBeLessThan(1000);
  expect(e.retryable).toBe(false);
  return e;
}

/** A valid one-task workflow as a JS object, with `patch` applied to its first task. */
function workflow(
  patch: (task: IpldMap, run: IpldMap, input: IpldMap) => void = () => {},
): IpldMap & { tasks: IpldMap[] } {
  const input: IpldMap = { func: 'add_one', args: [1] };
  const run: IpldMap = { rsc: WASM, op: 'wasm/run', input, nnc: '' };
  const task: IpldMap = { cause: null, meta: { memory: 4294967296, time: 100000 }, prf: [], run };
  patch(task, run, input);
  return { tasks: [task] };
}

/** The same workflow as DAG-JSON text with `args` spliced in verbatim. */
function workflowWithArgs(argsJson: string): string {
  return `{"tasks":[{"cause":null,"meta":{},"prf":[],"run":{"input":{"args":${argsJson},"func":"f"},"nnc":"","op":"wasm/run","rsc":"${WASM}"}}]}`;
}

describe('wrong types at every field', () => {
  const cases: Array<[string, IpldValue, RegExp]> = [
    ['root a list', [1], /^\(root\): expected a map, got list/],
    ['root an integer', 5, /^\(root\): expected a map, got integer/],
    ['no tasks', {}, /^tasks: expected a list of tasks, got undefined/],
    ['tasks a map', { tasks: {} }, /^tasks: expected a list of tasks, got map/],
    ['task an integer', { tasks: [1] }, /^tasks\[0\]: expected a map, got integer/],
    ['task null', { tasks: [null] }, /^tasks\[0\]: expected a map, got null/],
    [
      'run missing',
      workflow((t) => delete t.run),
      /^tasks\[0\]\.run: expected a map, got undefined/,
    ],
    ['run a list', workflow((t) => (t.run = [])), /^tasks\[0\]\.run: expected a map, got list/],
    [
      'run a link',
      workflow((t) => (t.run = CID.parse(LINK))),
      /^tasks\[0\]\.run: instructions by reference are not supported/,
    ],
    [
      'rsc missing',
      workflow((_t, r) => delete r.rsc),
      /^tasks\[0\]\.run\.rsc: expected a string, got undefined/,
    ],
    [
      'rsc an integer',
      workflow((_t, r) => (r.rsc = 1)),
      /^tasks\[0\]\.run\.rsc: expected a string, got integer/,
    ],
    [
      'rsc a link',
      workflow((_t, r) => (r.rsc = CID.parse(LINK))),
      /^tasks\[0\]\.run\.rsc: expected a string, got link/,
    ],
    [
      'rsc not a URI',
      workflow((_t, r) => (r.rsc = 'hello')),
      /^tasks\[0\]\.run\.rsc: expected a URI/,
    ],
    [
      'op missing',
      workflow((_t, r) => delete r.op),
      /^tasks\[0\]\.run\.op: expected a string, got undefined/,
    ],
    [
      'op bytes',
      workflow((_t, r) => (r.op = new Uint8Array(2))),
      /^tasks\[0\]\.run\.op: expected a string, got bytes/,
    ],
    ['op empty', workflow((_t, r) => (r.op = '')), /^tasks\[0\]\.run\.op: must not be empty/],
    ['input missing', workflow((_t, r) => delete r.input), /^tasks\[0\]\.run\.input: missing/],
    [
      'input a list',
      workflow((_t, r) => (r.input = [])),
      /^tasks\[0\]\.run\.input: expected a map, got list/,
    ],
    [
      'func missing',
      workflow((_t, _r, i) => delete i.func),
      /^tasks\[0\]\.run\.input\.func: expected a string, got undefined/,
    ],
    [
      'func a float',
      workflow((_t, _r, i) => (i.func = 1.5)),
      /^tasks\[0\]\.run\.input\.func: expected a string, got float/,
    ],
    [
      'func empty',
      workflow((_t, _r, i) => (i.func = '')),
      /^tasks\[0\]\.run\.input\.func: must not be empty/,
    ],
    [
      'args missing',
      workflow((_t, _r, i) => delete i.args),
      /^tasks\[0\]\.run\.input\.args: expected a list, got undefined/,
    ],
    [
      'args a map',
      workflow((_t, _r, i) => (i.args = {})),
      /^tasks\[0\]\.run\.input\.args: expected a list, got map/,
    ],
    [
      'nnc an integer',
      workflow((_t, r) => (r.nnc = 7)),
      /^tasks\[0\]\.run\.nnc: expected a string or bytes, got integer/,
    ],
    [
      'nnc null',
      workflow((_t, r) => (r.nnc = null)),
      /^tasks\[0\]\.run\.nnc: expected a string or bytes, got null/,
    ],
    [
      'nnc a list',
      workflow((_t, r) => (r.nnc = [])),
      /^tasks\[0\]\.run\.nnc: expected a string or bytes, got list/,
    ],
    [
      'prf a map',
      workflow((t) => (t.prf = {})),
      /^tasks\[0\]\.prf: expected a list of links, got map/,
    ],
    [
      'prf item a string',
      workflow((t) => (t.prf = [CID.parse(LINK), LINK])),
      /^tasks\[0\]\.prf\[1\]: expected a link, got string/,
    ],
    [
      'meta.fuel a string',
      workflow((t) => (t.meta = { fuel: '1' })),
      /^tasks\[0\]\.meta\.fuel: expected a non-negative number, got string/,
    ],
    [
      'meta.memory negative',
      workflow((t) => (t.meta = { memory: -1 })),
      /^tasks\[0\]\.meta\.memory: expected a non-negative number/,
    ],
    [
      'meta.time null',
      workflow((t) => (t.meta = { time: null })),
      /^tasks\[0\]\.meta\.time: expected a non-negative number, got null/,
    ],
    [
      'wrapper name an integer',
      { name: 1, workflow: workflow() },
      /^name: expected a string, got integer/,
    ],
    ['wrapper workflow a list', { name: 'x', workflow: [] }, /^workflow: expected a map, got list/],
    [
      'wrapper workflow without tasks',
      { name: 'x', workflow: {} },
      /^workflow\.tasks: expected a list of tasks/,
    ],
    [
      'second task wrong',
      { tasks: [workflow().tasks[0]!, { run: 'x' }] },
      /^tasks\[1\]\.run: expected a map, got string/,
    ],
  ];

  for (const [name, value, where] of cases) {
    it(`${name} → ${where.source}`, () => {
      expectLocated(() => parseWorkflow(value), where, SchemaError);
      // The same from DAG-JSON text and DAG-CBOR bytes: the path does not depend on the codec.
      expectLocated(() => parseWorkflow(dagJson.stringify(value)), where, SchemaError);
      expectLocated(() => parseWorkflow(dagCbor.encode(value)), where, SchemaError);
    });
  }
});

describe('bad CIDs', () => {
  it('in rsc', () => {
    expectLocated(
      () => parseWorkflow(workflow((_t, r) => (r.rsc = 'ipfs://bafynotacid'))),
      /^tasks\[0\]\.run\.rsc: not a CID after ipfs:\/\//,
    );
    expectLocated(
      () => parseWorkflow(workflow((_t, r) => (r.rsc = 'ipfs://'))),
      /^tasks\[0\]\.run\.rsc: not a CID/,
    );
    expectLocated(
      () => parseWorkflow(workflow((_t, r) => (r.rsc = `ipfs://${LINK}x`))),
      /^tasks\[0\]\.run\.rsc: not a CID/,
    );
  });

  it('in rsc, every time and at its own task, beside valid ones parsed before', () => {
    const good = workflow().tasks[0]!;
    const bad = workflow((_t, r) => (r.rsc = 'ipfs://bafynotacid')).tasks[0]!;
    parseWorkflow({ tasks: [good] });
    for (let i = 0; i < 3; i++) {
      expectLocated(
        () => parseWorkflow({ tasks: [good, bad] }),
        /^tasks\[1\]\.run\.rsc: not a CID after ipfs:\/\//,
      );
    }
    // More distinct valid resources than are remembered: each is still accepted.
    for (let i = 0; i < 1100; i++) {
      const rsc = `https://example.org/module-${i}.wasm`;
      const w = workflow((_t, r) => (r.rsc = rsc));
      expect(parseWorkflow(w).tasks[0]!.task.run.rsc).toBe(rsc);
    }
    expectLocated(() => parseWorkflow({ tasks: [bad] }), /^tasks\[0\]\.run\.rsc: not a CID/);
  });

  it('in await links, as DAG-JSON', () => {
    // An unparseable {"/": …} is a decode error at its offset.
    const text = workflowWithArgs('[{"await/ok":{"/":"bafynotacid"}}]');
    const e = expectLocated(
      () => parseWorkflow(text),
      /^dag-json at byte \d+: invalid CID/,
      DecodeError,
    ) as DecodeError;
    expect(e.offset).toBeGreaterThan(text.indexOf('bafynotacid'));
    expectLocated(
      () => parseWorkflow(workflowWithArgs(`[{"await/ok":{"/":"${LINK.slice(0, -3)}"}}]`)),
      /^dag-json at byte \d+: invalid CID/,
    );
    // A link given as a plain string, or a {"/": …} that is not a link, is a schema error.
    expectLocated(
      () => parseWorkflow(workflowWithArgs(`[{"await/ok":"${LINK}"}]`)),
      /^tasks\[0\]\.run\.input\.args\[0\]: await link is not a CID \(got string\)/,
    );
    expectLocated(
      () => parseWorkflow(workflowWithArgs('[{"await/ok":{"/":5}}]')),
      /^tasks\[0\]\.run\.input\.args\[0\]: await link is not a CID \(got map\)/,
    );
    expectLocated(
      () => parseWorkflow(workflowWithArgs('[{"await/ok":null}]')),
      /^tasks\[0\]\.run\.input\.args\[0\]: await link is not a CID \(got null\)/,
    );
  });

  it('in await links, as DAG-CBOR', () => {
    const good = dagCbor.encode(
      workflow((_t, _r, i) => (i.args = [{ 'await/ok': CID.parse(LINK) }])),
    );
    const link = CID.parse(LINK).bytes;
    const at = Buffer.from(good).indexOf(Buffer.from(link));
    // Corrupt the multihash length inside the tag-42 bytes.
    const corrupt = good.slice();
    corrupt[at + 3] = 0x40;
    expectLocated(() => parseWorkflow(corrupt), /^dag-cbor at byte \d+: invalid CID/, DecodeError);
    // Remove the 0x00 multibase prefix.
    const noPrefix = good.slice();
    noPrefix[at - 1] = 0x01;
    expectLocated(
      () => parseWorkflow(noPrefix),
      /^dag-cbor at byte \d+: tag 42 must hold bytes starting with 0x00/,
      DecodeError,
    );
    // Tag 42 around a text string (DAG-JSON's form, not DAG-CBOR's).
    expectLocated(
      () =>
        dagCbor.decode(
          fromHex(`d82a 78${LINK.length.toString(16)} ${Buffer.from(LINK).toString('hex')}`),
        ),
      /^dag-cbor at byte \d+: tag 42 must hold bytes/,
    );
  });
});

describe('await maps', () => {
  it('unknown selectors', () => {
    expectLocated(
      () => parseWorkflow(workflowWithArgs(`[{"await/maybe":{"/":"${LINK}"}}]`)),
      /^tasks\[0\]\.run\.input\.args\[0\]\.await\/maybe: unknown await selector/,
    );
    expectLocated(
      () => parseWorkflow(workflowWithArgs(`[1, {"deep": [{"await/":{"/":"${LINK}"}}]}]`)),
      /^tasks\[0\]\.run\.input\.args\[1\]\.deep\[0\]\.await\/: unknown await selector/,
    );
  });

  it('extra keys', () => {
    expectLocated(
      () => parseWorkflow(workflowWithArgs(`[{"await/ok":{"/":"${LINK}"},"x":1}]`)),
      /^tasks\[0\]\.run\.input\.args\[0\]: an await must have exactly one key, found await\/ok, x/,
    );
    expectLocated(
      () =>
        parseWorkflow(
          workflowWithArgs(`[{"await/ok":{"/":"${LINK}"},"await/error":{"/":"${LINK}"}}]`),
        ),
      /^tasks\[0\]\.run\.input\.args\[0\]: an await must have exactly one key/,
    );
  });

  it('a link map with extra keys (DAG-JSON)', () => {
    expectLocated(
      () => parseWorkflow(workflowWithArgs(`[{"await/ok":{"/":"${LINK}","x":1}}]`)),
      /^dag-json at byte \d+: a \{"\/": "<cid>"\} link must have no other keys/,
    );
    expectLocated(
      () => dagJson.decode('{"/":{"bytes":"AQID","x":1}}'),
      /^dag-json at byte \d+: a \{"\/": \{"bytes": …\}\} form must have no other keys/,
    );
    expectLocated(
      () => dagJson.decode('{"/":{"bytes":5}}'),
      /^dag-json at byte \d+: \{"\/": \{"bytes": …\}\} needs a base64 string/,
    );
    expectLocated(() => dagJson.decode('{"/":{"bytes":"!!!"}}'), /^dag-json at byte \d+: /);
  });
});

describe('workflow graph', () => {
  it('duplicate instructions', () => {
    const task = workflow().tasks[0]!;
    const e = expectLocated(
      () => parseWorkflow({ tasks: [task, { ...task, meta: { other: 1 } }] }),
      /^tasks\[1\]: duplicate instruction bafyrmi\w+ \(same as tasks\[0\]\); add a nonce/,
      WorkflowError,
    ) as WorkflowError;
    expect(e.path).toBe('tasks[1]');
    // A nonce makes them different instructions.
    const run = { ...(task.run as IpldMap), nnc: 'again' };
    expect(parseWorkflow({ tasks: [task, { ...task, run }] }).tasks).toHaveLength(2);
  });

  it('a cycle (through topologicalOrder: a real one would need a hash collision)', () => {
    expectLocated(
      () => topologicalOrder([[], [3], [1], [2]]),
      /^tasks: cycle among tasks\[1\], tasks\[2\], tasks\[3\]/,
      WorkflowError,
    );
    expectLocated(
      () => topologicalOrder([[1], [0], []], 'workflow.tasks'),
      /^workflow\.tasks: cycle among workflow\.tasks\[0\], workflow\.tasks\[1\]/,
      WorkflowError,
    );
    expectLocated(
      () => topologicalOrder([[], [1]]),
      /^tasks\[1\]: the task awaits itself/,
      WorkflowError,
    );
  });

  it('empty workflows', () => {
    expectLocated(
      () => parseWorkflow('{"tasks":[]}'),
      /^tasks: a workflow needs at least one task/,
    );
    expectLocated(
      () => parseWorkflow({ name: 'n', workflow: { tasks: [] } }),
      /^workflow\.tasks: a workflow needs at least one task/,
    );
    expectLocated(() => parseWorkflow('{}'), /^tasks: expected a list of tasks/);
    expectLocated(() => parseWorkflow(''), /^dag-cbor at byte 0: /, DecodeError);
    expectLocated(() => parseWorkflow('   \n'), /^dag-(json|cbor) at byte \d+: /, DecodeError);
    expectLocated(() => parseWorkflow(new Uint8Array(0)), /^dag-cbor at byte 0: /, DecodeError);
  });

  it('nonce bytes of the wrong length', () => {
    for (const n of [0, 1, 8, 11, 13, 15, 17, 32]) {
      expectLocated(
        () => parseWorkflow(workflow((_t, r) => (r.nnc = new Uint8Array(n)))),
        new RegExp(`^tasks\\[0\\]\\.run\\.nnc: nonce bytes must be 12 or 16 long, got ${n}`),
      );
    }
    expectLocated(
      () =>
        parseWorkflow(workflowWithArgs('[]').replace('"nnc":""', '"nnc":{"/":{"bytes":"AAAA"}}')),
      /^tasks\[0\]\.run\.nnc: nonce bytes must be 12 or 16 long, got 3/,
    );
  });
});

describe('broken bytes', () => {
  const goodCbor = dagCbor.encode(
    workflow(
      (_t, _r, i) => (i.args = [{ 'await/ok': CID.parse(LINK) }, 'é', 1.5, -7, new Uint8Array(3)]),
    ),
  );
  const goodJson = dagJson.stringify(dagCbor.decode(goodCbor));

  it('truncated CBOR, at every length', () => {
    expect(parseWorkflow(goodCbor).tasks).toHaveLength(1);
    for (let n = 0; n < goodCbor.length; n++) {
      expectLocated(
        () => parseWorkflow(goodCbor.subarray(0, n)),
        /^dag-cbor at byte \d+: /,
        DecodeError,
      );
    }
  });

  it('truncated DAG-JSON, at every length', () => {
    for (let n = 1; n < goodJson.length; n++) {
      expectLocated(
        () => parseWorkflow(goodJson.slice(0, n)),
        /^dag-json at byte \d+: /,
        DecodeError,
      );
    }
  });

  it('trailing bytes', () => {
    const withZero = new Uint8Array([...goodCbor, 0]);
    const e = expectLocated(
      () => parseWorkflow(withZero),
      /^dag-cbor at byte \d+: unexpected data after the end of the value/,
      DecodeError,
    ) as DecodeError;
    expect(e.offset).toBe(goodCbor.length);
    expectLocated(
      () => dagCbor.decode(fromHex('0102')),
      /^dag-cbor at byte 1: unexpected data after the end of the value/,
    );
    expectLocated(
      () => parseWorkflow(`${goodJson} {}`),
      /^dag-json at byte \d+: unexpected data after the end of the value/,
    );
    expectLocated(() => parseWorkflow(`${goodJson}x`), /^dag-json at byte \d+: /);
  });

  it('invalid UTF-8', () => {
    // CBOR text strings: a stray byte, an overlong form, an encoded surrogate, a cut sequence.
    for (const bad of ['ff', 'c0af', 'eda080', 'e282']) {
      const bytes = fromHex(`a1 6161 ${(0x60 + bad.length / 2).toString(16)} ${bad}`);
      expectLocated(
        () => dagCbor.decode(bytes),
        /^dag-cbor at byte \d+: a string is not valid UTF-8/,
        DecodeError,
      );
    }
    // … in a map key, inside a workflow.
    expectLocated(
      () => dagCbor.decode(fromHex('a1 62c0af 01')),
      /^dag-cbor at byte \d+: a string is not valid UTF-8/,
    );
    // DAG-JSON text, inside a workflow: the offset is the bad byte's.
    for (const bad of ['ff', 'c0af', 'eda080', 'e282', 'f8888080808080', 'f4908080']) {
      const text = utf8(workflowWithArgs('["ok", "é??"]'));
      const at = Buffer.from(text).indexOf('??');
      const json = new Uint8Array([
        ...text.subarray(0, at),
        ...fromHex(bad),
        ...text.subarray(at + 2),
      ]);
      const e = expectLocated(
        () => parseWorkflow(json),
        /^dag-json at byte \d+: /,
        DecodeError,
      ) as DecodeError;
      expect(e.offset, bad).toBe(at);
    }
    // A real U+FFFD is fine, in both.
    expect(dagCbor.decode(fromHex('63efbfbd'))).toBe('\uFFFD');
    expect(dagJson.decode(utf8('["\uFFFD", "\uFFFD", "\\uFFFD"]'))).toEqual([
      '\uFFFD',
      '\uFFFD',
      '\uFFFD',
    ]);
    // Lone surrogates in JSON escapes are not Unicode scalar values.
    expectLocated(
      () => dagJson.decode('["\\ud800"]'),
      /^dag-json at byte \d+: a string with a lone surrogate/,
    );
    expect(dagJson.decode('["\\ud834\\udd1e"]')).toEqual(['𝄞']);
  });

  it('NaN and Infinity', () => {
    for (const text of ['NaN', 'Infinity', '-Infinity', '1e400', '-1e400', 'nan']) {
      expectLocated(
        () => parseWorkflow(workflowWithArgs(`[${text}]`)),
        /^dag-json at byte \d+: /,
        DecodeError,
      );
    }
    for (const bits of ['7ff8000000000000', '7ff0000000000000', 'fff0000000000000']) {
      expectLocated(
        () => dagCbor.decode(fromHex(`81 fb ${bits}`)),
        /^dag-cbor at byte \d+: (NaN|Infinity) values are not supported/,
        DecodeError,
      );
    }
  });

  it('duplicate map keys', () => {
    expectLocated(
      () => parseWorkflow('{"tasks":[],"tasks":[]}'),
      /^dag-json at byte \d+: found repeat map key "tasks"/,
      DecodeError,
    );
    expectLocated(
      () => parseWorkflow(workflowWithArgs('[{"a":1,"a":2}]')),
      /^dag-json at byte \d+: found repeat map key "a"/,
    );
    expectLocated(
      () => dagCbor.decode(fromHex('a2 6161 01 6161 02')),
      /^dag-cbor at byte \d+: found repeat map key "a"/,
    );
  });

  it('what cborg allows and DAG-CBOR does not', () => {
    const cases: Array<[string, RegExp]> = [
      ['f7', /undefined/],
      ['9f01ff', /indefinite length/],
      ['1801', /more bytes than necessary/],
      ['f93c00', /floats must be encoded in 64 bits/],
      ['fa3f800000', /floats must be encoded in 64 bits/],
      ['c11a00000001', /tag 1 is not allowed/],
      ['da001f10a7 6568656c6c6f', /tag 2035879 is not allowed/],
      ['3bffffffffffffffff', /below the 64-bit signed range/],
      ['a1 01 02', /non-string keys/],
      ['5f 41 00 ff', /indefinite length/],
    ];
    for (const [bytes, reason] of cases) {
      const e = expectLocated(
        () => dagCbor.decode(fromHex(bytes)),
        /^dag-cbor at byte \d+: /,
        DecodeError,
      );
      expect(e.message, bytes).toMatch(reason);
    }
  });
});

describe('size and depth', () => {
  const TEN_MB = 10 * 1024 * 1024;

  it('10 MB strings: located errors, short messages', { timeout: 60_000 }, () => {
    const big = 'x'.repeat(TEN_MB);
    expectLocated(
      () => parseWorkflow(workflow((_t, r) => (r.rsc = big))),
      /^tasks\[0\]\.run\.rsc: expected a URI/,
    );
    expectLocated(
      () => parseWorkflow(dagJson.stringify(workflow((_t, r) => (r.rsc = `ipfs://${big}`)))),
      /^tasks\[0\]\.run\.rsc: not a CID/,
    );
    expectLocated(
      () => parseWorkflow(workflowWithArgs(`[{"await/${big}":1}]`)),
      /^tasks\[0\]\.run\.input\.args\[0\]\.await\/x+…\(10485766 chars\): unknown await selector/,
    );
    expectLocated(
      () =>
        parseWorkflow(
          dagCbor.encode(workflow((_t, _r, i) => (i.args = [{ [`await/${big}`]: 1 }]))),
        ),
      /^tasks\[0\]\.run\.input\.args\[0\]\.await\/x+…\(10485766 chars\): unknown await selector/,
    );
    expectLocated(
      () => dagJson.decode(`{"${big}":1,"${big}":2}`),
      /^dag-json at byte \d+: found repeat map key "x+…\(\d+ chars\)$/,
    );
    // An unterminated 10 MB string, and a CBOR string shorter than its declared length.
    expectLocated(() => parseWorkflow(`{"tasks":["${big}`), /^dag-json at byte \d+: /, DecodeError);
    const cbor = dagCbor.encode(big);
    expectLocated(
      () => parseWorkflow(cbor.subarray(0, cbor.length - 1)),
      /^dag-cbor at byte \d+: /,
      DecodeError,
    );
    // A valid 10 MB argument is not an error.
    expect(parseWorkflow(workflowWithArgs(`["${big}"]`)).tasks[0]!.task.run.input).toEqual({
      func: 'f',
      args: [big],
    });
  });

  it('100 000 levels of nesting: a clean error naming the depth limit', () => {
    const depth = 100_000;
    const deepJsonList = workflowWithArgs(`[${'['.repeat(depth)}${']'.repeat(depth)}]`);
    expectLocated(
      () => parseWorkflow(deepJsonList),
      /^dag-json at byte \d+: nesting deeper than 256 levels/,
      DecodeError,
    );
    const deepJsonMap = workflowWithArgs(`[${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}]`);
    expectLocated(
      () => parseWorkflow(deepJsonMap),
      /^dag-json at byte \d+: nesting deeper than 256 levels/,
    );
    const deepCborList = new Uint8Array(depth + 1).fill(0x81);
    deepCborList[depth] = 0x01;
    expectLocated(
      () => parseWorkflow(deepCborList),
      /^dag-cbor at byte 257: nesting deeper than 256 levels/,
    );
    const deepCborMap = new Uint8Array(depth * 3 + 1);
    for (let i = 0; i < depth; i++) deepCborMap.set([0xa1, 0x61, 0x61], i * 3);
    expectLocated(
      () => parseWorkflow(deepCborMap),
      /^dag-cbor at byte \d+: nesting deeper than 256 levels/,
    );
    // The limit is an option, and the message names it.
    const shallow = workflowWithArgs('[[[[[1]]]]]');
    expect(parseWorkflow(shallow).tasks).toHaveLength(1);
    expectLocated(
      () => parseWorkflow(shallow, { maxDepth: 8 }),
      /^dag-json at byte \d+: nesting deeper than 8 levels/,
    );
  });
});

describe('receipts and events', () => {
  const ran = CID.parse(LINK);

  it('receipts with wrong fields', () => {
    expectLocated(() => parseReceipt({ out: ['ok', 1] }), /^ran: expected a link, got undefined/);
    expectLocated(
      () => parseReceipt({ ran, out: ['maybe', 1] }),
      /^out: expected \["ok" \| "error", value\]/,
    );
    expectLocated(() => parseReceipt({ ran, out: ['ok'] }), /^out: expected/);
    expectLocated(
      () => parseReceipt({ ran, out: ['ok', 1], iss: 5 }),
      /^iss: expected a string, got integer/,
    );
    expectLocated(
      () => parseReceipt({ ran, out: ['ok', 1], prf: [1] }),
      /^prf\[0\]: expected a link, got integer/,
    );
    expectLocated(() => parseReceipt([]), /^\(root\): expected a map, got list/);
  });

  it('events that are not events', () => {
    const at = 1_700_000_000_000;
    expectLocated(() => decodeEvent(fromHex('a1')), /^dag-cbor at byte \d+: /, DecodeError);
    expectLocated(
      () => decodeEvent(dagCbor.encode([])),
      /^\(root\): expected an event map, got list/,
    );
    expectLocated(
      () => decodeEvent(dagCbor.encode({ v: 2, type: 'receipt', at })),
      /^v: unsupported event version 2/,
    );
    expectLocated(
      () => decodeEvent(dagCbor.encode({ v: 1, type: 'nope', at })),
      /^type: unknown event type "nope"/,
    );
    expectLocated(
      () => decodeEvent(dagCbor.encode({ v: 1, type: 'receipt', at: 'now' })),
      /^at: expected a number, got string/,
    );
    const ended = encodeEvent({
      type: 'workflow/completed',
      workflow: ran,
      receipts: [ran],
      failed: [],
      reason: null,
      at,
    });
    const value = dagCbor.decode(ended) as IpldMap;
    expectLocated(
      () => decodeEvent(dagCbor.encode({ ...value, receipts: [ran, 'x'] })),
      /^receipts\[1\]: expected a link/,
    );
    expectLocated(
      () => decodeEvent(dagCbor.encode({ ...value, workflow: 'x' })),
      /^workflow: expected a link, got string/,
    );
    const submitted = dagCbor.decode(
      encodeEvent({
        type: 'workflow/submitted',
        workflow: ran,
        body: { tasks: [] },
        name: null,
        at,
      }),
    ) as IpldMap;
    expectLocated(
      () => decodeEvent(dagCbor.encode({ ...submitted, body: { tasks: [{ run: 1 }] } })),
      /^body\.tasks\[0\]\.run: expected a map, got integer/,
    );
    expect(cidOf(1)).toBeInstanceOf(CID);
  });
});
