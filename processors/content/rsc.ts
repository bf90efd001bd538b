// Resource strings of instructions: `ipfs://<cid>` (Homestar's form) or a bare CID.
import { CID } from 'multiformats/cid';
import { InvalidResourceError } from './errors.ts';
import type { ContentCallOptions, ContentStore } from './types.ts';

const IPFS_SCHEME = 'ipfs://';

/**
 * Parse an instruction's `rsc` (`ipfs://<cid>`, a bare CID string, or a `CID`).
 * @throws {@link InvalidResourceError} (terminal) for anything else.
 */
export function parseResource(rsc: CID | string): CID {
  const cid = CID.asCID(rsc);
  if (cid) return cid;
  if (typeof rsc !== 'string') throw new InvalidResourceError(String(rsc));
  const text = rsc.startsWith(IPFS_SCHEME) ? rsc.slice(IPFS_SCHEME.length).replace(/\/$/, '') : rsc;
  try {
    return CID.parse(text);
  } catch (err) {
    throw new InvalidResourceError(rsc, { cause: err });
  }
}

/**
 * Resolve an instruction's `rsc` to the bytes it names.
 * @throws {@link InvalidResourceError} (terminal) for a malformed resource.
 * @throws {@link ContentNotFoundError} (retryable) when the content is not stored locally.
 */
export async function resolveResource(
  store: ContentStore,
  rsc: CID | string,
  options: ContentCallOptions = {},
): Promise<{ cid: CID; bytes: Uint8Array }> {
  const cid = parseResource(rsc);
  return { cid, bytes: await store.get(cid, options) };
}
