/**
 * Placement on a node alone (a file log): a task runs here when it names this node (or no
 * node) and this node meets its required needs; otherwise submission fails with the located
 * reason, and a task that reached the stream another way gets an error receipt saying why.
 *
 * @module
 */
import { SchemaError } from '../../schemas/errors.ts';
import { readPlacement } from '../../schemas/placement.ts';
import type { PlacementHooks, PlacementSeam } from '../engine/types.ts';
import { unmetBy, type NodeCapabilities } from './bid.ts';

/** Placement for a single node with these capabilities. */
export function createLocalPlacement(self: () => NodeCapabilities): PlacementSeam {
  let hooks: PlacementHooks | undefined;
  const why = (meta: unknown, path: string): { path: string; reason: string } | undefined => {
    const placement = readPlacement(meta, path);
    if (placement === undefined) return undefined;
    const unmet = unmetBy(placement, self());
    if (unmet === undefined) return undefined;
    const field = unmet.startsWith('node:') ? `${path}.node` : `${path}.needs`;
    return {
      path: field,
      reason: `${unmet}; this node (${self().nodeId}) runs alone and cannot serve it`,
    };
  };
  return {
    check(meta, path) {
      const no = why(meta, path);
      if (no !== undefined) throw new SchemaError(no.path, no.reason);
    },
    async place(event) {
      let no: { path: string; reason: string } | undefined;
      try {
        no = why(event.task.meta, 'meta');
      } catch (err) {
        no = { path: 'meta', reason: (err as Error).message };
      }
      if (no === undefined) hooks!.run(event);
      else await hooks!.refuse(event, `${no.path}: ${no.reason}`);
    },
    attach(h) {
      hooks = h;
    },
    observe() {},
  };
}
