// Public face of the content area.
export type { ContentStore, ContentStoreInit, ContentCallOptions, CarSink } from './types.ts';
export {
  ContentError,
  ContentNotFoundError,
  InvalidResourceError,
  CarError,
  isRetryableContentError,
} from './errors.ts';
export { createHeliaContentStore, UNIXFS_CHUNK_BYTES, UNIXFS_MAX_LINKS } from './helia-store.ts';
export { parseResource, resolveResource } from './rsc.ts';

/** Data directory used when neither `--data-dir` nor `IPVM_DATA_DIR` is given. */
export const DEFAULT_DATA_DIR = '.ipvm';

/**
 * The data directory: the explicit option, else env `IPVM_DATA_DIR`, else {@link DEFAULT_DATA_DIR}.
 */
export function resolveDataDir(
  explicit: string | undefined,
  env: Record<string, string | undefined> = process.env,
): string {
  return explicit ?? env['IPVM_DATA_DIR'] ?? DEFAULT_DATA_DIR;
}
