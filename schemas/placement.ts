/**
 * Placement: where a task may run, from its `meta` — `meta.node` (run on the node with this id,
 * its DID) and `meta.needs` (capabilities the node must have). Like `fuel` or `retry`, they sit
 * in the task's `meta`, which is part of the invocation and not of the instruction: the memo key
 * (the instruction CID) is the same wherever the task runs, and a task without them encodes
 * exactly as before.
 *
 * | need           | satisfied by a node that…                                        | kind     |
 * | -------------- | ---------------------------------------------------------------- | -------- |
 * | `net:HOST[:P]` | allows HOST (on port P, or every port) in its `--allow-net`      | required |
 * | `secret:NAME`  | holds the secret NAME                                            | required |
 * | `module:CID`   | has the Wasm module CID compiled (ran it before)                 | affinity |
 * | `data:CID`     | holds the block CID locally                                      | affinity |
 *
 * A required need no node meets fails the task; an affinity only ranks the bids (any node can
 * fetch a module or a block).
 *
 * @module
 */
import { CID } from 'multiformats/cid';
import { isIpldMap } from './ipld.ts';
import { SchemaError } from './errors.ts';

/** One parsed entry of `meta.needs`. */
export interface Need {
  kind: 'net' | 'secret' | 'module' | 'data';
  /** What follows the prefix: `127.0.0.1:8080`, a secret name, a CID. */
  value: string;
  /** The need as written (`net:127.0.0.1:8080`). */
  text: string;
}

/** Where a task may run. */
export interface Placement {
  /** The id (DID) of the node that must run the task. */
  node: string | undefined;
  needs: Need[];
}

/** Needs a node must meet; the others are affinities (see the module doc). */
export const REQUIRED_NEEDS: ReadonlySet<Need['kind']> = new Set(['net', 'secret']);

/** Whether a task's meta asks for placement at all (the cheap test on the hot path). */
export function hasPlacement(meta: unknown): boolean {
  return isIpldMap(meta) && (meta.node !== undefined || meta.needs !== undefined);
}

/**
 * Reads `meta.node` and `meta.needs`; undefined when the task names neither.
 * @throws {SchemaError} located at `path` (`tasks[2].meta.needs[0]`) for a malformed one
 */
export function readPlacement(meta: unknown, path = 'meta'): Placement | undefined {
  if (!hasPlacement(meta)) return undefined;
  const m = meta as Record<string, unknown>;
  let node: string | undefined;
  if (m.node !== undefined) {
    if (typeof m.node !== 'string' || m.node === '')
      throw new SchemaError(`${path}.node`, 'expected the id (DID) of a node, a non-empty string');
    node = m.node;
  }
  const needs: Need[] = [];
  if (m.needs !== undefined) {
    if (!Array.isArray(m.needs))
      throw new SchemaError(`${path}.needs`, 'expected a list of needs (e.g. ["net:HOST:PORT"])');
    m.needs.forEach((raw, i) => needs.push(readNeed(raw, `${path}.needs[${i}]`)));
  }
  return { node, needs };
}

function readNeed(raw: unknown, path: string): Need {
  if (typeof raw !== 'string')
    throw new SchemaError(
      path,
      'expected a string: net:HOST[:PORT], secret:NAME, module:CID or data:CID',
    );
  const colon = raw.indexOf(':');
  const kind = raw.slice(0, colon);
  const value = raw.slice(colon + 1);
  if (colon < 0 || !['net', 'secret', 'module', 'data'].includes(kind))
    throw new SchemaError(
      path,
      `unknown need ${JSON.stringify(raw)}: expected net:HOST[:PORT], secret:NAME, module:CID or data:CID`,
    );
  if (value === '') throw new SchemaError(path, `${kind}: needs a value after the colon`);
  if (kind === 'module' || kind === 'data') {
    try {
      CID.parse(value.replace(/^ipfs:\/\//, ''));
    } catch (err) {
      throw new SchemaError(path, `${kind}: ${JSON.stringify(value)} is not a CID`, { cause: err });
    }
  }
  if (kind === 'net' && /[/\s,]/.test(value))
    throw new SchemaError(path, `net: expected HOST or HOST:PORT, got ${JSON.stringify(value)}`);
  return { kind: kind as Need['kind'], value, text: raw };
}
