// This node side by side with Homestar 0.3.0 on the same workflows, in the same run.
//
//   node bench/homestar.bench.ts [--independent 10,100] [--chains 10,100,1000] [--fsync batch|none|MS] [--same-class-fsync none|off]
//                                [--image-runs 3] [--image-bytes 65536] [--compiled] [--heap-growth P]
//                                [--young-generation MIB]
//
// Both sides get the same DAG-JSON workflows of `add_one` tasks on the example component
// (examples/wasm, built from WAT with jco; Homestar 0.3.0 runs it as it is):
// - N independent tasks and an N-task chain (each task awaits the previous instruction CID),
//   N = 10 and 100 (and a 1 000-task chain) by default: latency submit → last receipt and
//   tasks/s (Homestar builds the DAG of N independent tasks in time growing ~N^3.8, so 1 000 of
//   them would take most of an hour; `--independent 10,100,1000` if you have it);
// - the same workflows submitted again (memoized re-runs: every receipt replayed);
// - an image-like pipeline on bench/components/image (invert → brighten → blur → blur →
//   checksum on a 64 KiB grayscale image), 3 fresh images and a memoized re-run;
// - the fresh runs again on a second node child with fsync off (Homestar's durability class);
// - peak RSS of each side's process over the whole run (Homestar's process; this node's child
//   process, which also builds its own submissions).
// Homestar is driven over its WebSocket JSON-RPC (`subscribe_run_workflow`), this node through
// its library API in a child process. Along the way both sides are checked to agree: the same
// workflow CID, invocation CIDs (`ran`), instruction CIDs (Homestar's receipts table), outputs
// and receipt CIDs.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dagJson } from '../schemas/codecs.ts';
import {
  chain,
  imagePipeline,
  independent,
  testImage,
  type BenchWorkflow,
} from './lib/workflows.ts';
import { buildBenchComponent } from './components/build.ts';
import { startOurNode, type RanWorkflow } from './lib/our-node-protocol.ts';
import {
  arg,
  higherIsBetter,
  lowerIsBetter,
  mib,
  ms,
  pct,
  printTable,
  rate,
  writeResults,
  type Row,
} from './lib/report.ts';
import { PeerUnavailableError } from './peers/errors.ts';
import { startHomestar, type Homestar } from './peers/homestar.ts';
import { smallFileCid } from './peers/kubo-stand-in.ts';
import { buildExampleModule } from './lib/example-module.ts';

const INDEPENDENT = arg('independent', '10,100').split(',').filter(Boolean).map(Number);
const CHAINS = arg('chains', '10,100,1000').split(',').filter(Boolean).map(Number);
const FSYNC = arg('fsync', 'batch');
// Homestar commits to SQLite with synchronous=NORMAL in WAL mode: no fsync per commit, so its
// receipts survive a process crash but not a power loss. The same class for this node is the
// file log without fsync; a second node child runs that way so both durability modes show.
const SAME_CLASS = arg('same-class-fsync', 'none');
const IMAGE_RUNS = Number(arg('image-runs', '3'));
const IMAGE_BYTES = Number(arg('image-bytes', String(64 * 1024)));
const TITLE = `this node vs Homestar 0.3.0 — add_one workflows (this node: file log, fsync ${FSYNC}; Homestar: SQLite WAL, synchronous=NORMAL)`;

const { root, wasm, wasmFile, cid } = await buildExampleModule('homestar');
const image = await buildBenchComponent('image');
const imageFile = join(root, 'image.wasm');
writeFileSync(imageFile, image);
const imageCid = await smallFileCid(image);
const rsc = `ipfs://${cid}`;

let homestar: Homestar;
try {
  homestar = await startHomestar({
    dir: join(root, 'homestar'),
    files: new Map([
      [cid, wasm],
      [imageCid, image],
    ]),
  });
} catch (e) {
  if (!(e instanceof PeerUnavailableError)) throw e;
  console.log(
    `\nHomestar skipped: ${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}`,
  );
  writeResults('homestar', { title: TITLE, peer: 'Homestar', rows: [], skipped: e.message });
  rmSync(root, { recursive: true, force: true });
  process.exit(0);
}
const ours = await startOurNode({ wasm: [wasmFile, imageFile], fsync: FSYNC });
const oursSameClass =
  SAME_CLASS === 'off'
    ? undefined
    : await startOurNode({ wasm: [wasmFile, imageFile], fsync: SAME_CLASS });

const rows: Row[] = [];
const problems: string[] = [];
const raw: Array<Record<string, unknown>> = [];

const short = (s: string | undefined): string =>
  s === undefined ? 'none' : s.length > 80 ? `${s.slice(0, 80)}…` : s;

/** Where the two sides (and the expected answers) disagree on one workflow run. */
function check(
  label: string,
  wf: BenchWorkflow,
  mine: RanWorkflow,
  theirs: RanWorkflow,
  firstRun?: { mine: RanWorkflow; theirs: RanWorkflow },
): void {
  const bad = (m: string): void => void problems.push(`${label}: ${m}`);
  if (mine.cid !== wf.cid) bad(`this node's workflow CID ${mine.cid} ≠ ${wf.cid}`);
  if (theirs.cid !== wf.cid) bad(`Homestar's workflow CID ${theirs.cid} ≠ ${wf.cid}`);
  if (mine.status !== 'workflow/completed') bad(`this node ended ${mine.status}`);
  const expectedOut = new Map(
    wf.invocations.map((ran, i) => [ran, dagJson.stringify(['ok', wf.expected[i]!])]),
  );
  const stored = homestar.stored();
  // Outputs of receipts seen only through network events come from Homestar's database.
  const theirByRan = new Map(
    theirs.receipts.map((r) => [
      r.ran,
      r.out === undefined ? { ...r, out: stored.get(r.ran)?.out } : r,
    ]),
  );
  if (theirByRan.size !== wf.invocations.length)
    bad(`Homestar sent ${theirs.receipts.length} receipts for ${wf.invocations.length} tasks`);
  for (const [ran, out] of expectedOut) {
    const r = theirByRan.get(ran);
    if (r === undefined) bad(`Homestar has no receipt for invocation ${ran}`);
    else if (r.out !== out)
      bad(`Homestar's output for ${ran} is ${short(r.out)}, expected ${short(out)}`);
  }
  if (mine.receipts.length > 0) {
    for (const r of mine.receipts) {
      if (expectedOut.get(r.ran) !== r.out)
        bad(`this node's output for ${r.ran} is ${short(r.out)}`);
      const t = theirByRan.get(r.ran);
      if (t !== undefined && t.receipt !== r.receipt)
        bad(`receipt CIDs differ for ${r.ran}: ${r.receipt} vs Homestar ${t.receipt}`);
    }
  }
  const mineCids = [...(mine.receiptCids ?? [])].sort().join();
  const theirCids = theirs.receipts
    .map((r) => r.receipt)
    .sort()
    .join();
  if (mineCids !== theirCids) bad('the sets of receipt CIDs differ');
  if (firstRun !== undefined) {
    if (theirs.receipts.some((r) => !r.replayed))
      bad('Homestar re-ran a task of a memoized workflow');
    if (mineCids !== [...(firstRun.mine.receiptCids ?? [])].sort().join())
      bad("this node's re-run gave other receipts");
  }
  wf.invocations.forEach((ran, i) => {
    const h = stored.get(ran)?.instruction;
    if (h !== wf.instructions[i])
      bad(`instruction CID of task ${i}: this node ${wf.instructions[i]}, Homestar ${h ?? 'none'}`);
  });
}

async function oursRun(wf: BenchWorkflow, node = ours): Promise<RanWorkflow> {
  const { result } = await node.request<RanWorkflow[]>({ cmd: 'run', workflows: [wf.json] });
  return result[0]!;
}

function compareRows(label: string, n: number, mine: RanWorkflow, theirs: RanWorkflow): void {
  rows.push({
    scenario: `${label}: submit → last receipt`,
    ours: ms(mine.ms),
    peer: ms(theirs.ms),
    ratio: lowerIsBetter(mine.ms, theirs.ms),
    note: theirs.note,
  });
  if (n > 1) {
    const a = (n / mine.ms) * 1000;
    const b = (n / theirs.ms) * 1000;
    rows.push({
      scenario: `${label}: tasks/s`,
      ours: rate(a, '/s'),
      peer: rate(b, '/s'),
      ratio: higherIsBetter(a, b),
    });
  }
  raw.push({ label, n, oursMs: mine.ms, homestarMs: theirs.ms, homestarNote: theirs.note });
}

let start = 1_000_000;
try {
  // The first task each side ever runs: fetch, compile and cache the module.
  {
    const wf = independent(rsc, 1, start);
    start += 1_000_000;
    const theirs = await homestar.run(wf, 'cold');
    const mine = await oursRun(wf);
    check('first task (cold module)', wf, mine, theirs);
    compareRows('first task (cold module)', 1, mine, theirs);
    if (oursSameClass !== undefined) await oursRun(wf, oursSameClass);
  }
  const plan = [
    ...INDEPENDENT.map((n) => ['independent', independent, n] as const),
    ...CHAINS.map((n) => ['chain', chain, n] as const),
  ].sort((a, b) => a[2] - b[2]);
  {
    for (const [shape, make, n] of plan) {
      const wf = make(rsc, n, start);
      start += 1_000_000;
      const label = `${n} ${shape === 'chain' ? '-task chain' : 'independent tasks'}`.replace(
        ' -task',
        '-task',
      );
      const t0 = performance.now();
      const theirs = await homestar.run(wf, `${shape}-${n}`);
      const mine = await oursRun(wf);
      check(label, wf, mine, theirs);
      compareRows(label, n, mine, theirs);
      if (oursSameClass !== undefined) {
        const same = await oursRun(wf, oursSameClass);
        check(`${label} (fsync ${SAME_CLASS})`, wf, same, theirs);
        rows.push({
          scenario: `${label}: same, this node with fsync ${SAME_CLASS}`,
          ours: ms(same.ms),
          peer: ms(theirs.ms),
          ratio: lowerIsBetter(same.ms, theirs.ms),
          note: 'same durability class as Homestar',
        });
        raw.push({
          label: `${label}, fsync ${SAME_CLASS}`,
          n,
          oursMs: same.ms,
          homestarMs: theirs.ms,
        });
      }
      const theirs2 = await homestar.run(wf, `${shape}-${n}-again`);
      const mine2 = await oursRun(wf);
      check(`${label}, memoized re-run`, wf, mine2, theirs2, { mine, theirs });
      rows.push({
        scenario: `${label}, memoized re-run: submit → last receipt`,
        ours: ms(mine2.ms),
        peer: ms(theirs2.ms),
        ratio: lowerIsBetter(mine2.ms, theirs2.ms),
        note: theirs2.note,
      });
      raw.push({
        label: `${label}, memoized re-run`,
        n,
        oursMs: mine2.ms,
        homestarMs: theirs2.ms,
        homestarNote: theirs2.note,
      });
      console.error(`  ${label}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  }
  // The image-like pipeline: fresh images, then the last one again (memoized).
  if (IMAGE_RUNS > 0) {
    const label = `image pipeline (5 tasks on ${IMAGE_BYTES / 1024} KiB)`;
    const mineMs: number[] = [];
    const theirMs: number[] = [];
    let last: { wf: BenchWorkflow; mine: RanWorkflow; theirs: RanWorkflow } | undefined;
    for (let k = 0; k < IMAGE_RUNS; k++) {
      const wf = imagePipeline(`ipfs://${imageCid}`, testImage(IMAGE_BYTES, k + 1));
      const theirs = await homestar.run(wf, `image-${k}`);
      const mine = await oursRun(wf);
      check(`${label} #${k}`, wf, mine, theirs);
      mineMs.push(mine.ms);
      theirMs.push(theirs.ms);
      last = { wf, mine, theirs };
    }
    const [a, b] = [pct(mineMs, 50), pct(theirMs, 50)];
    rows.push({
      scenario: `${label}: submit → last receipt p50`,
      ours: ms(a),
      peer: ms(b),
      ratio: lowerIsBetter(a, b),
      note: `${IMAGE_RUNS} images`,
    });
    raw.push({ label, oursMs: mineMs, homestarMs: theirMs });
    const theirs2 = await homestar.run(last!.wf, 'image-again');
    const mine2 = await oursRun(last!.wf);
    check(`${label}, memoized re-run`, last!.wf, mine2, theirs2, last);
    rows.push({
      scenario: `${label}, memoized re-run`,
      ours: ms(mine2.ms),
      peer: ms(theirs2.ms),
      ratio: lowerIsBetter(mine2.ms, theirs2.ms),
      note: theirs2.note,
    });
    raw.push({
      label: `${label}, memoized re-run`,
      oursMs: mine2.ms,
      homestarMs: theirs2.ms,
      homestarNote: theirs2.note,
    });
  }

  const { peakRss: ourPeak } = await ours.request<null>({ cmd: 'run', workflows: [] });
  const theirPeak = homestar.peakRss();
  rows.push({
    scenario: 'peak RSS of the process over the run',
    ours: mib(ourPeak),
    peer: mib(theirPeak),
    ratio: lowerIsBetter(ourPeak, theirPeak),
    note: 'this node: its child process',
  });
  raw.push({ label: 'peak RSS', oursBytes: ourPeak, homestarBytes: theirPeak });
  rows.push({
    scenario: 'Kubo stand-in calls (cat / dag/put)',
    ours: '—',
    peer: `${homestar.kubo.calls.get('/api/v0/cat') ?? 0} / ${homestar.kubo.calls.get('/api/v0/dag/put') ?? 0}`,
    ratio: '',
  });
} finally {
  await oursSameClass?.close();
  await ours.close();
  await homestar.close();
}

printTable(TITLE, 'Homestar', rows);
console.log(
  problems.length === 0
    ? '\nagreement: same workflow, invocation, instruction and receipt CIDs and outputs on both sides'
    : `\nDISAGREEMENT:\n${problems.map((p) => `  ${p}`).join('\n')}`,
);
const file = writeResults('homestar', {
  title: TITLE,
  peer: 'Homestar 0.3.0',
  rows,
  raw,
  problems,
  independent: INDEPENDENT,
  chains: CHAINS,
  fsync: FSYNC,
});
console.log(`results: ${file}`);
rmSync(root, { recursive: true, force: true });
if (problems.length > 0) process.exitCode = 1;
