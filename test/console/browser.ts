// Debian's Chromium driven by playwright-core, for the console's end-to-end tests and bench.
// Only tests and benchmarks import playwright-core.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

/** Where Debian's package puts the browser (the wrapper script second). */
export const CHROMIUM_PATHS = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'];

/** The Chromium binary, or undefined (install it with `npm run setup` or `apt-get install chromium`). */
export function findChromium(): string | undefined {
  const fromEnv = process.env.IPVM_CHROMIUM;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return CHROMIUM_PATHS.find((p) => existsSync(p));
}

/** A headless browser with a fresh profile; close it to remove the profile. */
export interface Browser extends AsyncDisposable {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(executablePath: string): Promise<Browser> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'ipvm-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
  const close = async (): Promise<void> => {
    await context.close();
    await rm(userDataDir, { recursive: true, force: true });
  };
  return { context, close, [Symbol.asyncDispose]: close };
}
