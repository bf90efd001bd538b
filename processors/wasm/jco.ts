// The one place that loads jco. Its import costs ~100 ms, so it is loaded on first use only.
import { readFileSync } from 'node:fs';
import type * as JcoModule from '@bytecodealliance/jco';

type JcoApi = typeof JcoModule;

let jcoPromise: Promise<JcoApi> | undefined;

/** jco's API, imported on first use (module loading is process-wide on purpose). */
export function loadJco(): Promise<JcoApi> {
  jcoPromise ??= import('@bytecodealliance/jco');
  return jcoPromise;
}

/**
 * Embed WIT `world` of `witSource` into a core module as component-type metadata
 * (what `jco embed core.wasm --wit world.wit -n world` does).
 */
export async function embedWit(
  core: Uint8Array,
  witSource: string,
  world: string,
): Promise<Uint8Array> {
  const jco = await loadJco();
  return jco.componentEmbed({ binary: core, witSource, world, stringEncoding: 'utf8' });
}

/** Turn a core module carrying component-type metadata into a component (`jco new`). */
export async function newComponent(embedded: Uint8Array): Promise<Uint8Array> {
  const jco = await loadJco();
  return jco.componentNew(embedded);
}

let version: string | undefined;
/**
 * The installed jco's version, read from its package.json without loading jco (a cache key of
 * transpiled glue: a different jco may generate different glue).
 */
export function jcoVersion(): string {
  if (version === undefined) {
    const main = import.meta.resolve('@bytecodealliance/jco');
    const pkg = readFileSync(new URL('../package.json', main), 'utf8');
    version = (JSON.parse(pkg) as { version: string }).version;
  }
  return version;
}
