// The console in a real headless browser (Debian's Chromium through playwright-core), against
// `ipvm start --rpc-port 0 --console-actions` on a data directory holding the example component:
// submit the example workflow and watch its DAG turn green, open the failed task of
// divide-by-zero and read its error, search the memo (again for what it lacked a moment ago; by
// receipt and output CID), look at the node page, cancel a workflow that waits for a receipt
// nobody produces. Pages of their own, with their WebSocket passing through the test or their
// clock paused, give the page the timings of a loaded machine: a notification with the answer
// for a new filter, an older poll answered after a newer one, typing before the page settled.
// A screenshot of each page goes to test/.cache/console/ for a person to look at.
//
// Without a browser the suite skips with a message, except in CI (CI=true) where it fails.
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWorkflow } from '../../schemas/model.ts';
import { findChromium, launchChromium, type Browser } from './browser.ts';

const exec = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
const ADD_ONE = join(root, 'examples', 'workflows', 'add-one.json');
const DIVIDE = join(root, 'examples', 'workflows', 'divide-by-zero.json');
const SHOTS = join(root, 'test', '.cache', 'console');
const chromiumPath = findChromium();
const inCi = process.env.CI === 'true';
/**
 * How long a poll waits for the page to show what the node answered: a call and a render take
 * milliseconds alone, but over a second on two cores running the rest of the suite beside it
 * (vitest's default poll gives up after one).
 */
const SETTLE = { timeout: 10_000 };

if (chromiumPath === undefined && !inCi)
  console.log(
    'console browser tests skipped: no Chromium at /usr/lib/chromium/chromium or /usr/bin/chromium ' +
      '(install it with `npm run setup` or `apt-get install chromium`, or set IPVM_CHROMIUM)',
  );

/** Starts `ipvm start` and resolves with the console URL it prints. */
function startNode(
  dataDir: string,
  extra: string[],
): Promise<{ child: ChildProcessWithoutNullStreams; url: string }> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('IPVM_')),
  );
  const child = spawn(
    process.execPath,
    [join(root, 'cli', 'bin.js'), 'start', '--data-dir', dataDir, '--rpc-port', '0', ...extra],
    { cwd: root, env },
  );
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready: ${stdout}\n${stderr}`)), 30_000);
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /^console (http:\/\/\S+)$/m.exec(stdout);
      if (m !== null) {
        clearTimeout(timer);
        resolve({ child, url: m[1]! });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ipvm start exited ${code}: ${stderr}`));
    });
  });
}

async function stopNode(child: ChildProcessWithoutNullStreams | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

describe.skipIf(chromiumPath === undefined && !inCi)('console in a headless browser', () => {
  let dataDir: string;
  let node: ChildProcessWithoutNullStreams | undefined;
  let url: string;
  let browser: Browser | undefined;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    if (chromiumPath === undefined)
      throw new Error('CI=true but no Chromium: run infra/setup.d/40-chromium.sh');
    dataDir = await mkdtemp(join(tmpdir(), 'ipvm-console-'));
    await mkdir(SHOTS, { recursive: true });
    // The example component goes into the content store; the browser starts meanwhile.
    const [, b] = await Promise.all([
      exec(process.execPath, [join(root, 'examples', 'build.ts'), '--data-dir', dataDir], {
        cwd: root,
      }),
      launchChromium(chromiumPath),
    ]);
    browser = b;
    ({ child: node, url } = await startNode(dataDir, ['--console-actions']));
    page = await browser.context.newPage();
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await stopNode(node);
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  it('submits the example workflow and watches its DAG turn green', async () => {
    const cid = parseWorkflow(await readFile(ADD_ONE)).cid.toString();
    await page.goto(url);
    await page.locator('#connection.live').waitFor();
    await page.locator('text=No workflows yet.').waitFor();
    await page.setInputFiles('#submit-file', ADD_ONE);
    await page.waitForURL(`**/#/w/${cid}`);
    const tasks = page.locator('svg.dag g.task');
    await expect.poll(() => tasks.count(), SETTLE).toBe(3);
    // Live: every task turns green (executed) without reloading the page.
    await page.locator('svg.dag g.task[data-state="ok"]').nth(2).waitFor({ timeout: 15_000 });
    expect(await page.locator('svg.dag g.task[data-state="ok"]').count()).toBe(3);
    expect(await page.locator('svg.dag g.task[data-kind="wasm"]').count()).toBe(3);
    await expect.poll(() => page.locator('.badge.completed').count(), SETTLE).toBe(1);
    expect(await page.locator('#progress').textContent()).toContain('3 / 3 done');
    // The task's output: add(add_one(add_one(1)), 10) = 13.
    await page.locator('svg.dag g.task[data-index="2"]').click();
    await expect.poll(() => page.locator('#output-json').textContent(), SETTLE).toBe('13');
    await page.screenshot({ path: join(SHOTS, 'workflow.png'), fullPage: true });

    await page.goto(`${url}#/`);
    const row = page.locator(`#workflows tr[data-cid="${cid}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain('add-one');
    expect(await row.textContent()).toContain('completed');
    await page.screenshot({ path: join(SHOTS, 'workflows.png'), fullPage: true });
  });

  it('opens the failed task of divide-by-zero and reads its error', async () => {
    const cid = parseWorkflow(await readFile(DIVIDE)).cid.toString();
    await page.goto(`${url}#/`);
    await page.setInputFiles('#submit-file', DIVIDE);
    await page.waitForURL(`**/#/w/${cid}`);
    await page.locator('svg.dag g.task[data-state="error"]').nth(1).waitFor({ timeout: 15_000 });
    // Its first task is add-one's first: answered from the memo (blue).
    expect(await page.locator('svg.dag g.task[data-index="0"]').getAttribute('data-state')).toBe(
      'replayed',
    );
    await page.locator('svg.dag g.task[data-index="1"]').click();
    const error = page.locator('#task-error');
    await error.waitFor();
    expect(await error.textContent()).toBe('trap: trap: divide by zero');
    expect(await page.locator('#task-panel').textContent()).toContain('divide');
    await page.screenshot({ path: join(SHOTS, 'failed-task.png'), fullPage: true });

    // The list filters by status.
    await page.goto(`${url}#/`);
    await page.locator('#status-filter').selectOption('failed');
    await expect.poll(() => page.locator('#workflows tbody tr').count(), SETTLE).toBe(1);
    expect(await page.locator('#workflows tbody tr').getAttribute('data-cid')).toBe(cid);
  });

  it('keeps the status filter when a change arrives just before the filtered list', async () => {
    // On a loaded machine a notification and the answer for a new filter can reach the page
    // back to back. A page of its own whose WebSocket passes through the test holds what the
    // node sends while divide-by-zero runs again (its notifications) and the filter changes, then
    // hands the notifications and the filtered answer over together.
    const failed = parseWorkflow(await readFile(DIVIDE)).cid.toString();
    const held: Array<string | Buffer> = [];
    let holding = false;
    let filtered: number | undefined;
    let notificationsHeld = -1;
    const own = await browser!.context.newPage();
    own.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    await own.routeWebSocket(/.*/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => {
        const msg = JSON.parse(String(m)) as { id: number; method: string; params?: unknown };
        const status = (msg.params as { status?: string } | undefined)?.status;
        if (msg.method === 'console_workflows' && status === 'failed') filtered = msg.id;
        server.send(m);
      });
      server.onMessage((m) => {
        if (!holding) return ws.send(m);
        held.push(m);
        const msg = JSON.parse(String(m)) as { id?: number };
        if (filtered === undefined || msg.id !== filtered) return;
        holding = false;
        notificationsHeld = held.length - 1;
        for (const h of held.splice(0)) ws.send(h);
      });
    });
    try {
      await own.goto(`${url}#/`);
      const rows = own.locator('#workflows tbody tr');
      await expect.poll(() => rows.count(), SETTLE).toBe(2);
      holding = true;
      // divide-by-zero again: its summary changes, add-one's does not.
      const again = await exec(
        process.execPath,
        [join(root, 'cli', 'bin.js'), 'run', DIVIDE, '--data-dir', dataDir],
        { cwd: root },
      ).then(
        () => 0,
        (e: { code?: number }) => e.code,
      );
      expect(again).not.toBe(0);
      await expect.poll(() => held.length, SETTLE).toBeGreaterThan(0);
      await own.locator('#status-filter').selectOption('failed');
      await expect.poll(() => notificationsHeld, SETTLE).toBeGreaterThan(0);
      await expect.poll(() => rows.count(), SETTLE).toBe(1);
      // The list stays filtered: a change merged into the list it replaced would bring add-one
      // back within a frame.
      await own.waitForTimeout(500);
      expect(await rows.count()).toBe(1);
      expect(await rows.getAttribute('data-cid')).toBe(failed);
    } finally {
      await own.close();
    }
  });

  it('keeps what was typed in the search box before the page had settled', async () => {
    // On a loaded machine the page's work after a paint can come after a user (or a test) has
    // typed: a page of its own with its clock paused holds that work until the query is in.
    const own = await browser!.context.newPage();
    own.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    await own.clock.install();
    try {
      await own.goto(`${url}#/`);
      await own.locator('#connection.live').waitFor();
      await own.clock.pauseAt(Date.now() + 60_000);
      await own.evaluate("location.hash = '#/search/'");
      const typed = 'a-function-nothing-has';
      await own.fill('#search-input', typed);
      await own.clock.resume();
      await own.clock.runFor(1000);
      expect(await own.inputValue('#search-input')).toBe(typed);
      await own.click('#search-button');
      await own.locator('#search-empty').waitFor(SETTLE);
      expect(await own.locator('#search-empty').textContent()).toContain(typed);
    } finally {
      await own.close();
    }
  });

  it('searches again when the same query is submitted again', async () => {
    // add_one(41): an instruction nothing has run yet, so the first search finds nothing.
    const add = JSON.parse(await readFile(ADD_ONE, 'utf8')) as {
      tasks: Array<{ run: { input: unknown } }>;
    };
    const first = add.tasks[0]!;
    const fresh = {
      name: 'add-one-41',
      workflow: {
        tasks: [{ ...first, run: { ...first.run, input: { func: 'add_one', args: [41] } } }],
      },
    };
    const file = join(dataDir, 'add-one-41.json');
    await writeFile(file, JSON.stringify(fresh));
    const instruction = parseWorkflow(await readFile(file)).tasks[0]!.instruction.toString();
    await page.goto(`${url}#/search/`);
    await page.fill('#search-input', instruction);
    await page.click('#search-button');
    await page.locator('#search-empty').waitFor();
    // Run through the node (`ipvm run` on its data directory goes through its API); the page
    // stays, and the same query submitted again searches again.
    await exec(
      process.execPath,
      [join(root, 'cli', 'bin.js'), 'run', file, '--data-dir', dataDir],
      {
        cwd: root,
      },
    );
    await page.click('#search-button');
    const rows = page.locator('#search-results tbody tr');
    await expect.poll(() => rows.count(), SETTLE).toBe(1);
    expect(await rows.locator('td').first().textContent()).toBe('instruction');
  });

  it('searches the memo by receipt CID and by output CID', async () => {
    const cid = parseWorkflow(await readFile(ADD_ONE)).cid.toString();
    await page.goto(`${url}#/w/${cid}/2`);
    const receipt = (await page.locator('#task-receipt').textContent())!;
    expect(receipt).toMatch(/^bafy/);
    await page.goto(`${url}#/search/`);
    await page.fill('#search-input', receipt);
    const results = page.locator('#search-results tbody tr');
    // The memo fills behind the engine (on a loaded machine, after the workflow's page already
    // shows the receipt): ask again until it has it, counting the rows of an answer.
    await expect
      .poll(
        async () => {
          await page.click('#search-button');
          await page.locator('#search-results, #search-empty').first().waitFor();
          return results.count();
        },
        { timeout: 15_000, interval: 250 },
      )
      .toBe(1);
    const text = (await results.textContent())!;
    expect(text).toContain('receipt');
    expect(text).toContain('add');
    const instruction = (await results.locator('td').nth(3).textContent())!;
    await page.screenshot({ path: join(SHOTS, 'search.png'), fullPage: true });
    // Reverse lookup: which instruction produced this value?
    const output = (await results.locator('td').nth(5).textContent())!;
    await page.fill('#search-input', output);
    await page.click('#search-button');
    await expect
      .poll(() => results.first().locator('td').first().textContent(), SETTLE)
      .toBe('output');
    expect(await results.first().locator('td').nth(3).textContent()).toBe(instruction);
  });

  it('shows the node: streams, memo, rate chart', async () => {
    await page.goto(`${url}#/node`);
    await page.locator('#rate-chart').waitFor();
    await expect
      .poll(async () => Number(await page.locator('#memo-entries').textContent()), SETTLE)
      .toBe(6);
    expect(await page.locator('#streams').textContent()).toContain('ipvm.invocations');
    expect(await page.locator('#rate-chart rect.bar.executed[height]').count()).toBeGreaterThan(0);
    await page.screenshot({ path: join(SHOTS, 'node.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  it('keeps the newer node answer when an older poll is answered after it', async () => {
    // The node page polls every 2 s; on a loaded node an answer can come after the next one.
    // A page of its own holds the page's first answer until the second (after add-one ran
    // again) has come, hands them over newest first, and passes on no later ones.
    const invocations = (answer: string): number =>
      (
        JSON.parse(answer) as { result: { streams: Array<{ stream: string; records: number }> } }
      ).result.streams.find((s) => s.stream === 'ipvm.invocations')!.records;
    const polls = new Set<number>();
    let polling = false;
    let stage: 'hold-first' | 'swap' | 'closed' = 'hold-first';
    let older: string | undefined;
    let newer: string | undefined;
    const own = await browser!.context.newPage();
    own.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    await own.routeWebSocket(/.*/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((m) => {
        const msg = JSON.parse(String(m)) as { id: number; method: string };
        if (polling && msg.method === 'console_node') polls.add(msg.id);
        server.send(m);
      });
      server.onMessage((m) => {
        const msg = JSON.parse(String(m)) as { id?: number };
        if (msg.id === undefined || !polls.has(msg.id)) return ws.send(m);
        if (stage === 'hold-first') {
          older = String(m);
          stage = 'swap';
        } else if (stage === 'swap' && invocations(String(m)) > invocations(older!)) {
          // (Polls answered before add-one's run was submitted are not passed on.)
          newer = String(m);
          stage = 'closed';
          ws.send(newer);
          ws.send(older!);
        }
      });
    });
    try {
      // The shell asks console_node once for itself; the node page's polls come after.
      await own.goto(`${url}#/`);
      await own.locator('#submit-file').waitFor({ state: 'attached' });
      polling = true;
      await own.goto(`${url}#/node`);
      await expect.poll(() => stage, SETTLE).toBe('swap');
      await exec(
        process.execPath,
        [join(root, 'cli', 'bin.js'), 'run', ADD_ONE, '--data-dir', dataDir],
        { cwd: root },
      );
      await expect.poll(() => stage, SETTLE).toBe('closed');
      const cell = own.locator('#streams tr', { hasText: 'ipvm.invocations' }).locator('td').nth(1);
      await expect.poll(() => cell.textContent(), SETTLE).toBe(String(invocations(newer!)));
      // No later answer reaches the page: what it shows now is what it keeps.
      await own.waitForTimeout(300);
      expect(await cell.textContent()).toBe(String(invocations(newer!)));
    } finally {
      await own.close();
    }
  });

  it('cancels a running workflow from its page', async () => {
    // Its first task awaits a CID no task produces: it runs until cancelled (or the await
    // timeout), and nothing of it is released meanwhile.
    const add = JSON.parse(await readFile(ADD_ONE, 'utf8')) as {
      tasks: Array<{ run: { rsc: string; input: { args: unknown[] } } }>;
    };
    const first = add.tasks[0]!;
    const waits = {
      name: 'waits-forever',
      workflow: {
        tasks: [
          {
            ...first,
            run: {
              ...first.run,
              input: { func: 'add_one', args: [{ 'await/ok': { '/': first.run.rsc.slice(7) } }] },
            },
          },
        ],
      },
    };
    const file = join(dataDir, 'waits-forever.json');
    await writeFile(file, JSON.stringify(waits));
    const cid = parseWorkflow(await readFile(file)).cid.toString();
    await page.goto(`${url}#/`);
    await page.setInputFiles('#submit-file', file);
    await page.waitForURL(`**/#/w/${cid}`);
    await page.locator('.badge.running').waitFor();
    await page.click('#cancel');
    await page.locator('.badge.failed').waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('dd.error').textContent(), SETTLE).toBe('cancelled');
    expect(await page.locator('#cancel').count()).toBe(0);
    expect(await page.locator('svg.dag g.task[data-state="ok"]').count()).toBe(0);
    await page.screenshot({ path: join(SHOTS, 'cancelled.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});
