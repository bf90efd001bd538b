/**
 * What a node has measured of each function it ran — duration and fuel per instruction `rsc` +
 * `func` — and so which modules it holds compiled. Bids are priced from it
 * (see {@link bidFor}).
 *
 * @module
 */
import type { ReceiptEvent } from '../../schemas/events.ts';
import { isIpldMap } from '../../schemas/ipld.ts';

/** Measured cost of one function. */
export interface FunctionCost {
  runs: number;
  /** Mean duration of a run, in ms. */
  meanMs: number;
  /** Mean fuel of a run. */
  meanFuel: number;
}

/** The node's cost history. */
export interface CostHistory {
  /** Notes a receipt computed here (replayed ones cost nothing and are not noted). */
  observe(receipt: ReceiptEvent): void;
  /** The measured cost of `func` of module `rsc`, when it ran here. */
  cost(rsc: string, func: string): FunctionCost | undefined;
  /** Whether module `rsc` ran here (so it is compiled and cached). */
  compiled(rsc: string): boolean;
  /** Module CIDs that ran here, most recent last (at most `limit`). */
  modules(limit?: number): string[];
}

/** @default 10_000 functions kept (the oldest are forgotten first) */
export const DEFAULT_HISTORY_SIZE = 10_000;

/** A module CID without its `ipfs://` prefix. */
export function moduleCid(rsc: string): string {
  return rsc.startsWith('ipfs://') ? rsc.slice(7) : rsc;
}

export function createCostHistory(size = DEFAULT_HISTORY_SIZE): CostHistory {
  const costs = new Map<string, FunctionCost>();
  const modules = new Map<string, true>();
  const keyOf = (rsc: string, func: string): string => `${moduleCid(rsc)}#${func}`;
  return {
    observe(receipt) {
      if (receipt.replayed || receipt.durationMs === null) return;
      const { rsc, input } = receipt.run;
      const func = isIpldMap(input) && typeof input.func === 'string' ? input.func : '';
      const key = keyOf(rsc, func);
      const c = costs.get(key) ?? { runs: 0, meanMs: 0, meanFuel: 0 };
      c.runs++;
      c.meanMs += (receipt.durationMs - c.meanMs) / c.runs;
      c.meanFuel += ((receipt.fuel ?? 0) - c.meanFuel) / c.runs;
      costs.delete(key); // re-inserted last: the map's order is least recently used first
      costs.set(key, c);
      if (costs.size > size) costs.delete(costs.keys().next().value!);
      const cid = moduleCid(rsc);
      modules.delete(cid);
      modules.set(cid, true);
      if (modules.size > size) modules.delete(modules.keys().next().value!);
    },
    cost: (rsc, func) => costs.get(keyOf(rsc, func)),
    compiled: (rsc) => modules.has(moduleCid(rsc)),
    modules: (limit = 50) => [...modules.keys()].slice(-limit),
  };
}
