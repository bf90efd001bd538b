// Golden CIDs of the Homestar v0.2 profile.
//
// Part 1 runs everywhere: the facts asserted upstream (workflow CIDs, and await links that are the
// instruction CIDs of earlier tasks) with the workflows written inline.
// Part 2 reads Homestar's own fixture files from ../shared/fixtures/homestar (next to the
// repository) when they are present, and is skipped with a message when they are not.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CID } from 'multiformats/cid';
import { describe, expect, it } from 'vitest';
import {
  composeMap,
  dagCbor,
  dagJson,
  encodeReceipt,
  IpldFloat,
  parseWorkflow,
  type IpldMap,
  type IpldValue,
  type ParsedWorkflow,
} from '../../schemas/index.ts';
import { hex } from './arbitraries.ts';

// ---------------------------------------------------------------------------------------------
// Facts (from Homestar's repository and tests)

const WASM = 'ipfs://bafybeibk42jwhq7w2zcpe6q3wgtleugp3ymfs3pa5gerjmnakqihhqx4zq';
const SYNTHCAT = 'bafybeiejevluvtoevgk66plh5t6xiy3ikyuuxg3vgofuvpeckb6eadresm';

const UPSTREAM = {
  addOne: 'bafyrmialnbzgwscjrq7sa3kdnw2roqdrdzp7xh2tvmo37qmgvarwrhcgre',
  addOneNonced: 'bafyrmibajjtwrcqrntnvp5fgkim6mbbsh6ykkdy3eijq2ycdjhlisxxx3i',
  imagePipeline: 'bafyrmiatb7idqtty56hy3hrfa6ur6qkspyrhaf6n6ynmqsntjvym47mbrq',
};

/** Homestar's `fuel` in these fixtures: an integer literal above u64, so the float 2^64. */
const FUEL_ABOVE_U64 = '18446744073709552000';

function task(func: string, args: string, meta: string, nnc = '""'): string {
  return (
    `{"cause":null,"meta":${meta},"prf":[],"run":{"input":{"args":${args},"func":"${func}"},` +
    `"nnc":${nnc},"op":"wasm/run","rsc":"${WASM}"}}`
  );
}
const await_ = (cid: string): string => `{"await/ok":{"/":"${cid}"}}`;
const META_FUEL = `{"fuel":${FUEL_ABOVE_U64},"memory":4294967296,"time":100000}`;
const META = '{"memory":4294967296,"time":100000}';

const INLINE = {
  addOne: {
    text: `{"tasks":[${task('add_one', '[1]', META_FUEL)},${task(
      'add_one',
      `[${await_('bafyrmihmxmsbt4n3g6dzmj7rho34mzfbaoqqbsfcq7etsogslqftbyj7du')}]`,
      META_FUEL,
    )}]}`,
    cid: UPSTREAM.addOne,
  },
  addOneNonced: {
    text: `{"tasks":[${task('add_one', '[1]', META_FUEL, '"1sod60ml6g26mfhsrsa0"')},${task(
      'add_one',
      `[${await_('bafyrmigh2n5i4iyl6mcfssv7lzx6yalwyslszngacuo3iw3mr3fgl3sopa')}]`,
      META_FUEL,
      '{"/":{"bytes":"oVI8XiFiec+c2XHS"}}',
    )},${task(
      'add_one',
      `[${await_('bafyrmiasmpmbcnvm2mgmk772wy2mmioxmlhu7zndmphy5rw2xssuh2fwle')}]`,
      META_FUEL,
    )}]}`,
    cid: UPSTREAM.addOneNonced,
  },
  imagePipeline: {
    text: `{"tasks":[${task('crop', `[{"/":"${SYNTHCAT}"},150,350,500,500]`, META)},${task(
      'rotate90',
      `[${await_('bafyrmib46dl7oaksq4fo4oyvcqewe7ojybgchufmrpjovqto3wovsq5jjq')}]`,
      META,
    )},${task(
      'grayscale',
      `[${await_('bafyrmiekrfvz5lglddmnkm2l2tia43tagziokpamjipleen7spxizchxbu')}]`,
      META,
    )}]}`,
    cid: UPSTREAM.imagePipeline,
  },
};

/** Every await/ok link must be the instruction CID of an earlier task of the same workflow. */
function expectLinksToEarlierTasks(parsed: ParsedWorkflow): number {
  let links = 0;
  for (const t of parsed.tasks) {
    for (const a of t.awaits) {
      expect(a.selector).toBe('await/ok');
      const target = parsed.tasks.findIndex((u) => u.instruction.equals(a.instruction));
      expect(target, `${a.path} → ${a.instruction.toString()}`).toBeGreaterThanOrEqual(0);
      expect(target).toBeLessThan(t.index);
      links++;
    }
  }
  expect(parsed.external).toEqual([]);
  return links;
}

describe('golden CIDs from inline facts (no fixture files needed)', () => {
  for (const [name, { text, cid }] of Object.entries(INLINE)) {
    it(`${name}: workflow CID ${cid}, every await/ok links an earlier instruction`, () => {
      const parsed = parseWorkflow(text);
      expect(parsed.cid.toString()).toBe(cid);
      expect(expectLinksToEarlierTasks(parsed)).toBe(parsed.tasks.length - 1);
      // The same from DAG-CBOR bytes and from the decoded value.
      expect(parseWorkflow(parsed.bytes).cid.toString()).toBe(cid);
      expect(parseWorkflow(dagJson.decode(text)).cid.toString()).toBe(cid);
      // Composed from parts, the workflow bytes equal encoding the whole value.
      expect(hex(parsed.bytes)).toBe(hex(dagCbor.encode(dagJson.decode(text))));
    });
  }

  it('reads fuel above u64 as the float 2^64 (the add-one CID depends on it)', () => {
    const parsed = parseWorkflow(INLINE.addOne.text);
    expect(parsed.tasks[0]!.task.meta).toEqual({ fuel: 2 ** 64, memory: 4294967296, time: 100000 });
    expect(parsed.tasks[0]!.limits.fuel).toBe(2 ** 64);
    // Read as an integer instead, the CID would differ: the rule matters.
    const asInteger = INLINE.addOne.text.replaceAll(FUEL_ABOVE_U64, '18446744073709551615');
    expect(parseWorkflow(asInteger).cid.toString()).not.toBe(UPSTREAM.addOne);
  });

  it('keeps the nonce as given: a string, or 12 bytes', () => {
    const parsed = parseWorkflow(INLINE.addOneNonced.text);
    expect(parsed.tasks.map((t) => t.task.run.nnc)).toEqual([
      '1sod60ml6g26mfhsrsa0',
      new Uint8Array(Buffer.from('oVI8XiFiec+c2XHS', 'base64')),
      '',
    ]);
  });

  it('the {name, workflow} wrapper does not change the workflow CID', () => {
    const wrapped = `{"name":"test","workflow":${INLINE.imagePipeline.text}}`;
    const parsed = parseWorkflow(wrapped);
    expect(parsed.name).toBe('test');
    expect(parsed.cid.toString()).toBe(UPSTREAM.imagePipeline);
    const cbor = dagCbor.encode(dagJson.decode(wrapped));
    expect(parseWorkflow(cbor).cid.toString()).toBe(UPSTREAM.imagePipeline);
  });

  it('encodes the data-model edge cases of the fixtures exactly', () => {
    // memory 4294967296 = 2^32 needs the 8-byte integer form; fuel is a float64.
    expect(hex(dagCbor.encode(2 ** 32))).toBe('1b0000000100000000');
    expect(hex(dagCbor.encode(new IpldFloat(2 ** 64)))).toBe('fb43f0000000000000');
    expect(hex(dagCbor.encode(dagJson.decode(FUEL_ABOVE_U64)))).toBe('fb43f0000000000000');
  });
});

// ---------------------------------------------------------------------------------------------
// Homestar's fixture files, when present

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURES = join(repoRoot, '..', 'shared', 'fixtures', 'homestar');
const WORKFLOWS = join(FIXTURES, 'workflows');
const present = existsSync(WORKFLOWS);
if (!present) {
  console.warn(
    'golden fixture tests skipped: ../shared/fixtures/homestar not found next to the repository',
  );
}

/** Links in these two point outside their workflow (upstream uses them as unresolvable promises). */
const EXTERNAL_LINKS = new Set(['test-workflow-add-one-part-two.json', 'test-workflow-jco.json']);

const fixtureFile = (name: string): Uint8Array =>
  new Uint8Array(readFileSync(join(WORKFLOWS, name)));

describe.skipIf(!present)('Homestar fixture files (../shared/fixtures/homestar)', () => {
  const jsonFiles = present
    ? readdirSync(WORKFLOWS)
        .filter((f) => f.endsWith('.json'))
        .sort()
    : [];

  it('has the workflows this suite expects', () => {
    expect(jsonFiles).toEqual(
      expect.arrayContaining(['test-workflow-add-one.json', ...EXTERNAL_LINKS]),
    );
    expect(jsonFiles.length).toBeGreaterThanOrEqual(8);
  });

  for (const file of jsonFiles) {
    if (EXTERNAL_LINKS.has(file)) {
      it(`${file}: its await links point outside and show up as external`, () => {
        const parsed = parseWorkflow(fixtureFile(file));
        const awaited = parsed.tasks.flatMap((t) => t.awaits);
        expect(awaited.length).toBeGreaterThan(0);
        expect(parsed.external.map((e) => e.instruction.toString())).toEqual(
          awaited.map((a) => a.instruction.toString()),
        );
        for (const e of parsed.external) {
          expect(parsed.tasks.some((t) => t.instruction.equals(e.instruction))).toBe(false);
        }
      });
    } else {
      it(`${file}: every await/ok link is the instruction CID of an earlier task`, () => {
        const parsed = parseWorkflow(fixtureFile(file));
        expectLinksToEarlierTasks(parsed);
        expect(parsed.warnings).toEqual([]);
      });
    }
  }

  it('reproduces the three workflow CIDs Homestar asserts', () => {
    expect(parseWorkflow(fixtureFile('test-workflow-add-one.json')).cid.toString()).toBe(
      UPSTREAM.addOne,
    );
    expect(parseWorkflow(fixtureFile('test-workflow-add-one-nonced.json')).cid.toString()).toBe(
      UPSTREAM.addOneNonced,
    );
    expect(parseWorkflow(fixtureFile('test-workflow-image-pipeline.json')).cid.toString()).toBe(
      UPSTREAM.imagePipeline,
    );
  });

  it('the inline copies above are the same workflows as the files', () => {
    for (const [file, inline] of [
      ['test-workflow-add-one.json', INLINE.addOne],
      ['test-workflow-add-one-nonced.json', INLINE.addOneNonced],
      ['test-workflow-image-pipeline.json', INLINE.imagePipeline],
    ] as const) {
      expect(hex(parseWorkflow(fixtureFile(file)).bytes)).toBe(
        hex(parseWorkflow(inline.text).bytes),
      );
    }
  });

  it("the .cbor fixture's workflow field is byte-identical to the JSON's DAG-CBOR", () => {
    const cbor = fixtureFile('test-workflow-image-pipeline.cbor');
    const fromJson = dagCbor.encode(
      dagJson.decode(fixtureFile('test-workflow-image-pipeline.json')),
    );
    // The file is exactly {name: "test", workflow: <those bytes>}.
    expect(hex(cbor)).toBe(
      hex(
        composeMap([
          ['name', dagCbor.encode('test')],
          ['workflow', fromJson],
        ]),
      ),
    );
    const decoded = dagCbor.decode(cbor) as IpldMap;
    expect(hex(dagCbor.encode(decoded.workflow))).toBe(hex(fromJson));
    const parsed = parseWorkflow(cbor);
    expect(parsed.name).toBe('test');
    expect(parsed.cid.toString()).toBe(UPSTREAM.imagePipeline);
    expect(hex(parsed.bytes)).toBe(hex(fromJson));
  });

  const receiptSchemaPath = join(FIXTURES, 'schemas', 'receipt.json');
  it.skipIf(!existsSync(receiptSchemaPath))(
    'receipts have the shape of schemas/receipt.json',
    () => {
      const schema = JSON.parse(readFileSync(receiptSchemaPath, 'utf8')) as {
        required: string[];
        properties: { meta: { required: string[] } };
        definitions: {
          out: { items: Array<{ enum?: string[] }>; minItems: number; maxItems: number };
        };
      };
      const parsed = parseWorkflow(fixtureFile('test-workflow-add-one.json'));
      const outcomes: Array<['ok' | 'error', IpldValue]> = [
        ['ok', 2],
        ['error', 'trap: unreachable'],
      ];
      for (const out of outcomes) {
        const block = encodeReceipt({
          ran: parsed.tasks[0]!.invocation,
          out,
          meta: { op: 'add_one' },
          iss: null,
          prf: [],
        });
        const json = JSON.parse(dagJson.stringify(dagCbor.decode(block.bytes))) as Record<
          string,
          unknown
        >;
        for (const key of schema.required) expect(json).toHaveProperty(key);
        for (const key of schema.properties.meta.required) expect(json.meta).toHaveProperty(key);
        const outJson = json.out as unknown[];
        expect(outJson.length).toBeGreaterThanOrEqual(schema.definitions.out.minItems);
        expect(outJson.length).toBeLessThanOrEqual(schema.definitions.out.maxItems);
        expect(schema.definitions.out.items[0]!.enum).toContain(outJson[0]);
        expect(json.ran).toEqual({ '/': parsed.tasks[0]!.invocation.toString() });
        expect(json.iss).toBeNull();
        expect(Array.isArray(json.prf)).toBe(true);
        expect(CID.parse((json.ran as { '/': string })['/']).code).toBe(0x71);
      }
    },
  );
});
