// Instruction CIDs per second (the memo key of every task) and parseWorkflow throughput.
//
//   node bench/cid.bench.ts [--seconds 1]
//
// Scenarios, all single-threaded (figures are per core):
// - project: `encodeBlock(instructionValue(i))` — what parseWorkflow does for every task;
// - raw baseline, same run, same values: `@ipld/dag-cbor` encode + sha3-256 digest + CID, with the
//   digest from node:crypto and from @noble/hashes (what @multiformats/sha3 uses);
// - parseWorkflow on a 1 000-task chain (each task awaits the previous one) from DAG-JSON text,
//   from DAG-CBOR bytes and from an already-decoded value;
// - DAG-JSON text of the same instructions (what the tables and the API write of every
//   receipt's values): `dagJson.stringify`, beside the general path through cborg's tokens (the
//   one it falls back to), `@ipld/dag-json`, and `JSON.stringify` of the same objects as a floor
//   (not DAG-JSON: links and bytes come out as plain objects); and reading that text back:
//   `dagJson.decode`, the token path, `@ipld/dag-json`, and `JSON.parse` as the floor;
// - DAG-CBOR read back (events from the log, packed memo entries): `dagCbor.decode`, the token
//   path, and `@ipld/dag-cbor`.
// The budget is ≥ 150 000 instruction CIDs/s per core. The machine is shared: the load average is
// printed beside the figures, and each figure is the best of several rounds.
import { hash } from 'node:crypto';
import { loadavg } from 'node:os';
import * as ipldDagCbor from '@ipld/dag-cbor';
import { sha3_256 as nobleSha3 } from '@noble/hashes/sha3.js';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import * as ipldDagJson from '@ipld/dag-json';
import { decodeTokens, encodeJsonTokens } from '../schemas/codecs.ts';
import {
  dagCbor,
  dagJson,
  encodeBlock,
  instructionValue,
  parseInstruction,
  parseWorkflow,
  type Instruction,
  type IpldMap,
} from '../schemas/index.ts';

const BUDGET_PER_S = 150_000;
const secondsArg = process.argv.indexOf('--seconds');
const ROUNDS = 8;
const ROUND_MS = (1000 * (secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 1)) / ROUNDS;

const WASM = 'ipfs://bafybeibk42jwhq7w2zcpe6q3wgtleugp3ymfs3pa5gerjmnakqihhqx4zq';
const IMAGE = CID.parse('bafybeiejevluvtoevgk66plh5t6xiy3ikyuuxg3vgofuvpeckb6eadresm');

/** Homestar-shaped instructions: add_one on an int or on an await, crop on an image link. */
function homestarInstructions(n: number): Instruction[] {
  const out: Instruction[] = [];
  let previous: CID | null = null;
  for (let i = 0; i < n; i++) {
    let value: IpldMap;
    if (i % 3 === 2) {
      value = {
        rsc: WASM,
        op: 'wasm/run',
        input: { func: 'crop', args: [IMAGE, i, 350, 500, 500] },
        nnc: '',
      };
    } else {
      value = {
        rsc: WASM,
        op: 'wasm/run',
        input: { func: 'add_one', args: [previous === null ? i : { 'await/ok': previous }] },
        nnc: i % 2 === 0 ? '' : `nonce-${i}`,
      };
    }
    const instruction = parseInstruction(value);
    previous = encodeBlock(instructionValue(instruction)).cid;
    out.push(instruction);
  }
  return out;
}

/**
 * Runs `op` over `items` for ROUND_MS, ROUNDS times; returns the best rate in items/s, both per
 * wall-clock second and per second of this process's CPU time (user + system, GC threads
 * included). On a shared machine the CPU figure is the per-core one; the wall figure shows what
 * was left to us.
 */
function rate<T>(items: readonly T[], op: (item: T) => unknown, perItem = 1): Rate {
  let wall = 0;
  let cpu = 0;
  let sink: unknown;
  for (let round = 0; round < ROUNDS + 1; round++) {
    let done = 0;
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    let elapsed: number;
    do {
      for (const item of items) sink = op(item);
      done += items.length;
      elapsed = performance.now() - start;
    } while (elapsed < ROUND_MS);
    const used = process.cpuUsage(cpuStart);
    const cpuMs = (used.user + used.system) / 1000;
    // Round 0 warms the JIT and is not counted.
    if (round > 0) {
      wall = Math.max(wall, (done * perItem * 1000) / elapsed);
      cpu = Math.max(cpu, (done * perItem * 1000) / cpuMs);
    }
  }
  if (sink === undefined) throw new Error('nothing computed');
  return { wall, cpu };
}

interface Rate {
  wall: number;
  cpu: number;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(10);
const show = (r: Rate): string => `${fmt(r.cpu)} ${fmt(r.wall)}`;
/** One line of a table: its label, then the rates. */
const row = (label: string, r: Rate): void => console.log(`${label.padEnd(36)}${show(r)}`);

function rawNode(value: unknown): CID {
  const bytes = ipldDagCbor.encode(value);
  return CID.createV1(0x71, Digest.create(0x16, hash('sha3-256', bytes, 'buffer')));
}

function rawNoble(value: unknown): CID {
  const bytes = ipldDagCbor.encode(value);
  return CID.createV1(0x71, Digest.create(0x16, nobleSha3(bytes)));
}

console.log(
  `cid.bench  node ${process.version}  load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);

// --- instruction CIDs -------------------------------------------------------------------------
const instructions = homestarInstructions(3000);
const values = instructions.map(instructionValue);
const sample = values[1]!;
console.log(`instruction sample: ${dagCbor.encode(sample).length} bytes DAG-CBOR`);
for (const v of values) {
  if (!rawNode(v).equals(encodeBlock(v).cid)) throw new Error('project and raw baseline disagree');
}

const project = rate(values, (v) => encodeBlock(v).cid);
const baseNode = rate(values, rawNode);
const baseNoble = rate(values, rawNoble);
const encodeOnly = rate(values, (v) => dagCbor.encode(v));
const rawEncodeOnly = rate(values, (v) => ipldDagCbor.encode(v));
console.log('\ninstruction CIDs/s, single thread      per CPU-s     per wall-s');
const verdict = project.cpu >= BUDGET_PER_S ? 'met' : 'NOT met';
console.log(
  `project  encodeBlock(instructionValue(i)) ${show(project)}   budget ≥ ${BUDGET_PER_S.toLocaleString('en-US')}/CPU-s: ${verdict}`,
);
console.log(`raw  @ipld/dag-cbor + node:crypto sha3   ${show(baseNode)}`);
console.log(`raw  @ipld/dag-cbor + @noble/hashes sha3 ${show(baseNoble)}`);
console.log(`encode only: project dagCbor.encode     ${show(encodeOnly)}`);
console.log(`encode only: @ipld/dag-cbor encode      ${show(rawEncodeOnly)}`);

// --- parseWorkflow on a 1 000-task chain -------------------------------------------------------
const CHAIN = 1000;
const chainTasks: IpldMap[] = [];
let previous: CID | null = null;
for (let i = 0; i < CHAIN; i++) {
  const run: IpldMap = {
    rsc: WASM,
    op: 'wasm/run',
    input: { func: 'add_one', args: [previous === null ? 1 : { 'await/ok': previous }] },
    nnc: '',
  };
  previous = encodeBlock(run).cid;
  chainTasks.push({
    cause: null,
    meta: { memory: 4294967296, time: 100000 },
    prf: [],
    run,
  });
}
const chain: IpldMap = { tasks: chainTasks };
const chainJson = dagJson.stringify(chain);
const chainCbor = dagCbor.encode(chain);
const parsed = parseWorkflow(chainJson);
if (parsed.external.length !== 0 || parsed.order.length !== CHAIN) {
  throw new Error('the chain does not link up');
}
console.log(
  `\nparseWorkflow, ${CHAIN}-task chain (${chainJson.length} B DAG-JSON, ${chainCbor.length} B DAG-CBOR), tasks/s`,
);
console.log(
  `from DAG-JSON text                      ${show(rate([chainJson], (t) => parseWorkflow(t), CHAIN))}`,
);
console.log(
  `from DAG-CBOR bytes                     ${show(rate([chainCbor], (b) => parseWorkflow(b), CHAIN))}`,
);
console.log(
  `from a decoded value                    ${show(rate([chain], (v) => parseWorkflow(v), CHAIN))}`,
);
console.log(
  `raw: @ipld/dag-cbor decode only         ${show(rate([chainCbor], (b) => ipldDagCbor.decode(b), CHAIN))}`,
);

// --- DAG-JSON text ----------------------------------------------------------------------------
for (const v of values) {
  if (dagJson.stringify(v) !== new TextDecoder().decode(encodeJsonTokens(v)))
    throw new Error('the fast and the general DAG-JSON text disagree');
}
const text = new TextDecoder();
const texts = values.map((v) => dagJson.stringify(v));
const utf8 = texts.map((t) => new TextEncoder().encode(t));
const cbor = values.map((v) => dagCbor.encode(v));
/** A table: its title, then each line's label and rates over `items`. */
function table<T>(title: string, items: readonly T[], lines: Array<[string, (x: T) => unknown]>) {
  console.log(`\n${title.padEnd(47)} per CPU-s     per wall-s`);
  for (const [label, op] of lines) row(label, rate(items, op));
}
table('DAG-JSON text of an instruction, values/s', values, [
  ['project  dagJson.stringify', (v) => dagJson.stringify(v)],
  ['general path (cborg tokens)', (v) => text.decode(encodeJsonTokens(v))],
  ['raw  @ipld/dag-json encode', (v) => text.decode(ipldDagJson.encode(v))],
  ['floor  JSON.stringify', (v) => JSON.stringify(v)],
]);
table('reading it back, values/s', utf8, [
  ['project  dagJson.decode', (b) => dagJson.decode(b)],
  ['general path (cborg tokens)', (b) => decodeTokens(b, 'dag-json')],
  ['raw  @ipld/dag-json decode', (b) => ipldDagJson.decode(b)],
]);
row(
  'floor  JSON.parse (of the text)',
  rate(texts, (t) => JSON.parse(t) as unknown),
);
table('DAG-CBOR of an instruction read back, values/s', cbor, [
  ['project  dagCbor.decode', (b) => dagCbor.decode(b)],
  ['general path (cborg tokens)', (b) => decodeTokens(b, 'dag-cbor')],
  ['raw  @ipld/dag-cbor decode', (b) => ipldDagCbor.decode(b)],
]);
