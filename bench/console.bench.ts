// The console with a 1 000-task workflow, measured in Debian's headless Chromium: from the hash
// change that opens the workflow page to the frame where every task of its DAG is drawn (the
// `console_workflow` call, Preact's render and the SVG layout), beside the same page for a
// 1-task workflow as the floor (what opening any workflow costs here). Also a cold load of the
// page (modules, WebSocket, first render). Median of --runs runs. Not a timed test.
//
//   node bench/console.bench.ts [--tasks 1000] [--runs 7]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { createFileLog } from '../streams/file/index.ts';
import { createNode } from '../processors/engine/node.ts';
import { createApiServer } from '../processors/api/index.ts';
import {
  createConsoleModel,
  createConsoleRpc,
  loadConsoleFiles,
} from '../processors/api/console.ts';
import { parseWorkflow } from '../schemas/model.ts';
import type { IpldValue } from '../schemas/ipld.ts';
import { createCoreRunner } from '../test/harness/core-runner.ts';
import { findChromium, launchChromium } from '../test/console/browser.ts';
import { arg, ms, pct, printTable, writeResults, type Row } from './lib/report.ts';

const TASKS = Number(arg('tasks', '1000'));
const RUNS = Number(arg('runs', '7'));
const TITLE = `console: a ${TASKS}-task workflow page in headless Chromium`;

/** A layered DAG: rows of 25 tasks, each adding two tasks of the row above. */
function layered(rsc: string, n: number, tag: string): IpldValue {
  const tasks: IpldValue[] = [];
  const instructions: IpldValue[] = [];
  const width = 25;
  for (let i = 0; i < n; i++) {
    const a = i - width;
    const b = i % width === width - 1 ? a : a + 1;
    const input =
      a < 0
        ? { func: 'add_one', args: [i] }
        : {
            func: 'add',
            args: [{ 'await/ok': instructions[a]! }, { 'await/ok': instructions[b]! }],
          };
    const t: IpldValue = {
      run: { rsc, op: 'wasm/run', input, nnc: `${tag}-${i}` },
      cause: null,
      meta: {},
      prf: [],
    };
    tasks.push(t);
    instructions.push(parseWorkflow({ tasks: [t] }).tasks[0]!.instruction);
  }
  return { tasks };
}

/** Browser-side expression: true once the DAG shows `n` tasks (a string: it runs in the page). */
const drawn = (n: number): string => `document.querySelectorAll('svg.dag g.task').length === ${n}`;

/** From the hash change that opens a workflow to the first frame painted with all its tasks. */
async function openTimed(page: Page, cid: string, n: number): Promise<number> {
  await page.evaluate(`location.hash = '#/'`);
  await page.locator('#workflows').waitFor();
  return page.evaluate<number>(`new Promise((resolve) => {
    const t0 = performance.now();
    location.hash = '#/w/${cid}';
    // Drawn in this frame; the next frame's callback runs once it has been painted.
    const painted = () => resolve(performance.now() - t0);
    const check = () => requestAnimationFrame(${drawn(n)} ? painted : check);
    requestAnimationFrame(check);
  })`);
}

async function main(): Promise<void> {
  const chromium = findChromium();
  if (chromium === undefined) {
    console.log('console bench skipped: no Chromium (infra/setup.d/40-chromium.sh installs it)');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'ipvm-console-bench-'));
  const log = createFileLog({ dir: join(dir, 'log') });
  const runner = await createCoreRunner();
  const node = await createNode({ log, runner });
  const model = createConsoleModel({ log, topology: node.topology, memo: node.memo });
  await model.ready();
  const api = await createApiServer({
    node,
    port: 0,
    extensions: [createConsoleRpc({ node, model })],
    consoleFiles: await loadConsoleFiles(),
  });
  const browser = await launchChromium(chromium);
  try {
    const big = await node.submit({ name: 'big', workflow: layered(runner.rsc, TASKS, 'big') });
    const small = await node.submit({ name: 'one', workflow: layered(runner.rsc, 1, 'one') });
    await node.ended(big.cid);
    await node.ended(small.cid);
    while (model.workflow(big.cid.toString())?.status !== 'completed')
      await new Promise((r) => setTimeout(r, 20));
    const page = await browser.context.newPage();
    const cold: number[] = [];
    const bigRuns: number[] = [];
    const smallRuns: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await page.goto('about:blank');
      const t0 = performance.now();
      await page.goto(`${api.httpUrl}/#/w/${big.cid.toString()}`);
      await page
        .locator('svg.dag g.task')
        .nth(TASKS - 1)
        .waitFor();
      cold.push(performance.now() - t0);
      smallRuns.push(await openTimed(page, small.cid.toString(), 1));
      bigRuns.push(await openTimed(page, big.cid.toString(), TASKS));
    }
    await page.goto(`${api.httpUrl}/#/w/${big.cid.toString()}`);
    await page
      .locator('svg.dag g.task')
      .nth(TASKS - 1)
      .waitFor();
    await page.screenshot({ path: join(dir, 'big.png') });
    const rows: Row[] = [
      {
        scenario: `open a ${TASKS}-task workflow page (p50 of ${RUNS})`,
        ours: ms(pct(bigRuns, 50)),
        peer: ms(pct(smallRuns, 50)),
        ratio: `${(pct(bigRuns, 50) / pct(smallRuns, 50)).toFixed(1)}× the floor`,
      },
      {
        scenario: `  slowest of ${RUNS}`,
        ours: ms(Math.max(...bigRuns)),
        peer: ms(Math.max(...smallRuns)),
        ratio: '',
      },
      {
        scenario: `cold load of the ${TASKS}-task page, goto → drawn (p50)`,
        ours: ms(pct(cold, 50)),
        peer: '',
        ratio: '',
      },
    ];
    printTable(TITLE, '1-task page (floor)', rows);
    writeResults('console', { title: TITLE, peer: '1-task page (floor)', rows });
  } finally {
    await browser.close();
    await api.close();
    await model.close();
    await node.close();
    await log.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
