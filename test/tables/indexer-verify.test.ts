// Receipts are verified before they become rows: a forged signature, a tampered body, an
// unsigned or untrusted receipt (in `ucan` mode) on the shared streams never reaches the
// tables, whether indexed live (in this thread or on map workers) or rebuilt; the honest ones do.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeEvent, type ReceiptEvent } from '../../schemas/events.ts';
import { createTopology } from '../../streams/topology.ts';
import {
  indexTables,
  tableStreams,
  type IndexerProgressEvent,
} from '../../processors/index-tables.ts';
import { generateIdentity } from '../../processors/auth/identity.ts';
import type { ReceiptCheck } from '../../processors/auth/verify-receipt.ts';
import { createChdbTableStore } from '../../processors/tables/chdb.ts';
import { rebuildTables } from '../../processors/tables/rebuild.ts';
import { createMemoryLog } from './memory-log.ts';
import { makeReceiptEvent } from './make-events.ts';

const root = mkdtempSync(join(tmpdir(), 'ipvm-indexer-verify-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dbs = 0;
const topology = createTopology({ namespace: 'test', partitions: { pure: 2, invocations: 1 } });
const streams = tableStreams(topology);
const node = generateIdentity();
const stranger = generateIdentity();

const signed = (e: ReceiptEvent, by = node): ReceiptEvent => ({
  ...e,
  iss: by.did,
  sig: by.sign(e.receipt.bytes),
});

/** Honest (signed by the node), forged, tampered, unsigned and untrusted receipts on `pure`. */
function workload(): Record<string, ReceiptEvent> {
  const honest = signed(makeReceiptEvent({ i: 1 }));
  // A valid CID that claims the node as signer, signed by someone else.
  const forged = { ...signed(makeReceiptEvent({ i: 2 }), stranger), iss: node.did };
  const original = signed(makeReceiptEvent({ i: 3 }));
  const tampered = {
    ...original,
    body: { ...original.body, out: ['ok', 1_000_000] },
  } as ReceiptEvent;
  const unsigned = makeReceiptEvent({ i: 4 });
  const untrusted = signed(makeReceiptEvent({ i: 5 }), stranger);
  return { honest, forged, tampered, unsigned, untrusted };
}

async function indexed(
  check: ReceiptCheck,
  how: 'live' | 'workers' | 'rebuild',
): Promise<{
  rows: string[];
  refused: IndexerProgressEvent[];
  count: number;
  all: Record<string, ReceiptEvent>;
}> {
  const log = createMemoryLog();
  await log.ensureStreams(topology.streams);
  const store = createChdbTableStore({ dataDir: root, database: `ver${dbs++}` });
  await store.migrate();
  const all = workload();
  await log.append(
    topology.name('pure'),
    Object.values(all).map((e) => ({ key: e.instruction.toString(), value: encodeEvent(e) })),
  );
  const refused: IndexerProgressEvent[] = [];
  const onProgress = (e: IndexerProgressEvent): void => {
    if (e.type === 'tables:refused') refused.push(e);
  };
  let count: number;
  if (how === 'rebuild') {
    count = (await rebuildTables({ log, store, streams, verify: check, onProgress })).refused;
  } else {
    const indexer = indexTables({
      log,
      store,
      streams,
      verify: check,
      onProgress,
      flushIntervalMs: 1,
      mapWorkers: how === 'workers' ? 1 : 0,
    });
    const ac = new AbortController();
    const running = indexer.run({ signal: ac.signal });
    const total = Object.keys(all).length;
    for (let i = 0; i < 500; i++) {
      const s = indexer.stats();
      if (s.receipts + s.refused >= total) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    ac.abort();
    await running;
    count = indexer.stats().refused;
  }
  const found = await store.query<{ receipt_cid: string }>(
    'SELECT receipt_cid FROM receipts FINAL',
  );
  await store.close();
  return { rows: found.map((r) => r.receipt_cid), refused, count, all };
}

const cids = (all: Record<string, ReceiptEvent>, names: string[]): string[] =>
  names.map((n) => all[n]!.receipt.toString()).sort();

describe('tables verify receipts', () => {
  const ucan: ReceiptCheck = { mode: 'ucan', trusted: [node.did] };
  const open: ReceiptCheck = { mode: 'open', trusted: [node.did] };

  it('ucan mode: only the honest receipt becomes a row; the others are refused with a reason', async () => {
    const { rows, refused, count, all } = await indexed(ucan, 'live');
    expect(rows.sort()).toEqual(cids(all, ['honest']));
    expect(count).toBe(4);
    const reasons = refused.map((e) => (e as { reason: string }).reason).join('\n');
    for (const word of ['forged', 'tampered', 'unsigned', 'does not trust'])
      expect(reasons).toContain(word);
    for (const e of refused) expect(e).toMatchObject({ stream: topology.name('pure') });
  });

  it('open mode: forged and tampered are refused, unsigned and foreign signers indexed', async () => {
    const { rows, count, all } = await indexed(open, 'live');
    expect(rows.sort()).toEqual(cids(all, ['honest', 'unsigned', 'untrusted']));
    expect(count).toBe(2);
  });

  it('on map workers too', async () => {
    const { rows, count, all } = await indexed(ucan, 'workers');
    expect(rows.sort()).toEqual(cids(all, ['honest']));
    expect(count).toBe(4);
  });

  it('a rebuild verifies as the live indexer does', async () => {
    const { rows, count, all } = await indexed(ucan, 'rebuild');
    expect(rows.sort()).toEqual(cids(all, ['honest']));
    expect(count).toBe(4);
  });
});
