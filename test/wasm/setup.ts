// Shared fixture for the executor suites: a temp content store holding the test components and
// an executor over it. Components are built from source by test/components/build.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CID } from 'multiformats/cid';
import { createHeliaContentStore, type ContentStore } from '../../processors/content/index.ts';
import {
  createExecutor,
  type Executor,
  type ExecutorInit,
  type ExecutorProgress,
} from '../../processors/wasm/index.ts';
import {
  buildComponent,
  buildCoreModule,
  buildEmbedded,
  type ComponentName,
  type CoreModuleName,
} from '../components/build.ts';

export interface Fixture {
  dir: string;
  content: ContentStore;
  executor: Executor;
  events: ExecutorProgress[];
  component(name: ComponentName): Promise<CID>;
  embedded(name: ComponentName): Promise<CID>;
  core(name: CoreModuleName | ComponentName): Promise<CID>;
  add(bytes: Uint8Array): Promise<CID>;
  newExecutor(init?: Partial<ExecutorInit>): Executor;
  close(): Promise<void>;
}

export async function createFixture(init: Partial<ExecutorInit> = {}): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'ipvm-wasm-'));
  const content = await createHeliaContentStore({ dataDir: join(dir, 'data') });
  const events: ExecutorProgress[] = [];
  const executors: Executor[] = [];
  const newExecutor = (more: Partial<ExecutorInit> = {}): Executor => {
    const e = createExecutor({
      content,
      cacheDir: join(dir, 'wasm-cache'),
      poolSize: 2,
      onProgress: (ev) => events.push(ev),
      ...init,
      ...more,
    });
    executors.push(e);
    return e;
  };
  const executor = newExecutor();
  return {
    dir,
    content,
    executor,
    events,
    component: async (name) => content.add(await buildComponent(name)),
    embedded: async (name) => content.add(await buildEmbedded(name)),
    core: async (name) => content.add(await buildCoreModule(name)),
    add: (bytes) => content.add(bytes),
    newExecutor,
    async close() {
      for (const e of executors) await e.close();
      await content.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
