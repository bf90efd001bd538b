// The bid function and capability matching: a node that ran the module bids lower than one
// that would compile it; the history's measured duration prices the run; a node lacking a
// required need says which.
import { describe, expect, it } from 'vitest';
import { CID } from 'multiformats/cid';
import { bestBid, bidFor, unmetBy, BID_DEFAULTS } from '../../processors/cluster/bid.ts';
import { createCostHistory } from '../../processors/cluster/cost-history.ts';
import { readPlacement } from '../../schemas/placement.ts';
import { newReceiptEvent } from '../../processors/engine/receipts.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { IpldValue } from '../../schemas/ipld.ts';

const RSC = 'ipfs://bafkreidsr2hsgtgmdy55skt5bfkb2jhkuaoa4ki6z4l3pvrr7tnfkqtyfq';
const OTHER = 'ipfs://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku';

/** A receipt of `func` of `rsc` that took `ms` here. */
function ran(rsc: string, func: string, ms: number, fuel = 100) {
  const t: IpldValue = {
    run: { rsc, op: 'wasm/run', input: { func, args: [ms] }, nnc: '' },
    cause: null,
    meta: {},
    prf: [],
  };
  const p = parseWorkflow({ tasks: [t] }).tasks[0]!;
  return newReceiptEvent({
    instruction: p.instruction,
    invocation: p.invocation,
    workflow: null,
    run: p.task.run,
    out: ['ok', 1],
    fuel,
    durationMs: ms,
    executor: 'x',
    at: 0,
  });
}

const idle = { running: 0, concurrency: 4, dataLocal: () => false };

describe('bids', () => {
  it('prefers the node with the module compiled, priced by its measured duration', () => {
    const warm = createCostHistory();
    warm.observe(ran(RSC, 'add_one', 4));
    warm.observe(ran(RSC, 'add_one', 6));
    const cold = createCostHistory();
    cold.observe(ran(OTHER, 'add_one', 1));
    const task = { rsc: RSC, func: 'add_one', needs: [] };
    const a = bidFor(task, warm, idle);
    const b = bidFor(task, cold, idle);
    expect(a).toMatchObject({ costMs: 5, expectedMs: 5, compiled: true, free: 4 });
    expect(b).toMatchObject({
      costMs: BID_DEFAULTS.unknownRunMs + BID_DEFAULTS.compileMs,
      expectedMs: null,
      compiled: false,
    });
    expect(
      bestBid([
        { node: 'b', ...b },
        { node: 'a', ...a },
      ])!.node,
    ).toBe('a');
    expect(warm.cost(RSC, 'add_one')).toEqual({ runs: 2, meanMs: 5, meanFuel: 100 });
    expect(warm.modules()).toEqual([RSC.slice(7)]);
  });

  it('counts a busy node’s queue and blocks not held', () => {
    const h = createCostHistory();
    h.observe(ran(RSC, 'f', 10));
    const cid = RSC.slice(7);
    const needs = readPlacement({ needs: [`data:${cid}`] })!.needs;
    const local = bidFor({ rsc: RSC, func: 'f', needs }, h, { ...idle, dataLocal: () => true });
    const remote = bidFor({ rsc: RSC, func: 'f', needs }, h, idle);
    expect(remote.costMs - local.costMs).toBe(BID_DEFAULTS.fetchMs);
    const busy = bidFor({ rsc: RSC, func: 'f', needs: [] }, h, {
      running: 8,
      concurrency: 4,
      dataLocal: () => false,
    });
    expect(busy.free).toBe(0);
    expect(busy.costMs).toBeGreaterThan(local.costMs);
  });

  it('ties go to the lowest node id', () => {
    expect(
      bestBid([
        { node: 'c', costMs: 1 },
        { node: 'b', costMs: 1 },
      ])!.node,
    ).toBe('b');
    expect(bestBid([])).toBeUndefined();
  });

  it('says which need a node does not meet', () => {
    const self = {
      nodeId: 'n1',
      effectHosts: ['127.0.0.1:8080', 'api.example.com'],
      secrets: ['A'],
    };
    const p = (meta: IpldValue) => readPlacement(meta)!;
    expect(
      unmetBy(p({ node: 'n1', needs: ['net:127.0.0.1:8080', 'secret:A'] }), self),
    ).toBeUndefined();
    expect(unmetBy(p({ needs: ['net:api.example.com:443'] }), self)).toBeUndefined();
    expect(unmetBy(p({ node: 'n2' }), self)).toBe('node: the task names n2');
    expect(unmetBy(p({ needs: ['net:127.0.0.1:9090'] }), self)).toMatch(
      /^net:127\.0\.0\.1:9090: not in --allow-net/,
    );
    // A need without a port wants every port; an entry with one does not give it.
    expect(unmetBy(p({ needs: ['net:127.0.0.1'] }), self)).toMatch(/not in --allow-net/);
    expect(unmetBy(p({ needs: ['secret:B'] }), self)).toBe('secret:B: no secret B');
    // Affinities never disqualify.
    expect(
      unmetBy(p({ needs: [`module:${CID.parse(OTHER.slice(7)).toString()}`] }), self),
    ).toBeUndefined();
  });
});
