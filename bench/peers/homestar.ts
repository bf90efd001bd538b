// Homestar 0.3.0 (npm `homestar-runtime` / `homestar-linux-x64`) as a benchmark peer: its own
// data dir and settings (loopback only; mDNS, pubsub, rendezvous and QUIC off — libp2p itself
// cannot be turned off, it listens on a loopback port with no peers to dial), a Kubo stand-in
// for resources, and workflows run over its WebSocket JSON-RPC `subscribe_run_workflow`.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import WebSocket from 'ws';
import { dagCbor, dagJson } from '../../schemas/codecs.ts';
import type { BenchWorkflow } from '../lib/workflows.ts';
import type { RanWorkflow, SeenReceipt } from '../lib/our-node-protocol.ts';
import { currentRss, peakRss, startServer, waitForPort, type Server } from '../lib/proc.ts';
import { freePorts } from '../../infra/free-ports.ts';
import { PeerUnavailableError } from './errors.ts';
import { startKuboStandIn, type KuboStandIn } from './kubo-stand-in.ts';

/** Path of the Homestar binary from its npm package, or a reason why there is none. */
export function homestarBinary(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve(
      `homestar-${process.platform}-${process.arch === 'x64' ? 'x64' : process.arch}/package.json`,
    );
  } catch (cause) {
    throw new PeerUnavailableError(
      `homestar-${process.platform}-${process.arch} is not installed (optional dependency of homestar-runtime)`,
      { cause },
    );
  }
  const bin = join(dirname(pkg), 'bin', 'homestar');
  if (!existsSync(bin)) throw new PeerUnavailableError(`no binary at ${bin}`);
  return bin;
}

/** How long a replayed run waits for notifications that may have been lost. */
const REPLAY_GRACE_MS = 2_000;

export interface Homestar {
  pid: number;
  kubo: KuboStandIn;
  /** Runs one workflow; resolves when all its receipts have arrived. */
  run(
    workflow: BenchWorkflow,
    name: string,
    options?: { timeoutMs?: number },
  ): Promise<RanWorkflow>;
  /**
   * The receipts Homestar stored (its `receipts` table, read-only), by invocation CID (`ran`):
   * the instruction CID, which notifications do not carry, the output and the receipt CID.
   */
  stored(): Map<string, { instruction: string; out: string; receipt: string }>;
  rss(): number;
  peakRss(): number;
  close(): Promise<void>;
}

interface Notification {
  metadata: { name: string; replayed: boolean; workflow: { '/': string } };
  receipt: { ran: { '/': string }; out: unknown; meta: unknown };
  receipt_cid: { '/': string };
}

export async function startHomestar(options: {
  dir: string;
  files: ReadonlyMap<string, Uint8Array>;
}): Promise<Homestar> {
  const bin = homestarBinary();
  mkdirSync(options.dir, { recursive: true });
  const kubo = await startKuboStandIn(options.files);
  const [web, rpc, metrics, consolePort] = (await freePorts(4)) as [number, number, number, number];
  // Keys and defaults: homestar-runtime/src/settings.rs and settings/libp2p_config.rs at v0.3.0.
  writeFileSync(
    join(options.dir, 'settings.toml'),
    `[node]
[node.monitoring]
console_subscriber_port = ${consolePort}
[node.network.ipfs]
host = "127.0.0.1"
port = ${kubo.port}
[node.network.libp2p]
listen_address = "/ip4/127.0.0.1/tcp/0"
node_addresses = []
[node.network.libp2p.mdns]
enable = false
[node.network.libp2p.pubsub]
enable = false
[node.network.libp2p.rendezvous]
enable_client = false
enable_server = false
[node.network.libp2p.quic]
enable = false
[node.network.metrics]
port = ${metrics}
[node.network.rpc]
host = "127.0.0.1"
port = ${rpc}
[node.network.webserver]
v4_host = "127.0.0.1"
port = ${web}
`,
  );
  const dbFile = join(options.dir, 'homestar.db');
  let server: Server;
  try {
    server = startServer(bin, ['start', '-c', 'settings.toml', '--db', dbFile], {
      cwd: options.dir,
      env: { ...process.env, NO_COLOR: '1' },
      logFile: join(options.dir, 'homestar.log'),
    });
    await waitForPort(web, { child: server.child, timeoutMs: 30_000 });
  } catch (cause) {
    await kubo.close();
    throw new PeerUnavailableError(
      `homestar did not start (log: ${join(options.dir, 'homestar.log')})`,
      { cause },
    );
  }

  const ws = new WebSocket(`ws://127.0.0.1:${web}`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const replies = new Map<number, { resolve: (sub: string) => void; reject: (e: Error) => void }>();
  const subscribers = new Map<string, (n: Notification) => void>();
  const early = new Map<string, Notification[]>();
  // Receipts computed before a workflow's subscription is registered are never sent to it
  // (Homestar registers the listener only after acknowledging the run, and a fast task can end
  // first), so computed receipts are also taken from the network events, which are subscribed
  // once before any workflow: `put_receipt_dht` is emitted for every computed receipt.
  let networkSub = '';
  const computed = new Set<(e: { cid: string; ran: string; timestamp: number }) => void>();
  ws.on('message', (data: Buffer) => {
    const msg = JSON.parse(data.toString()) as {
      id?: number;
      result?: unknown;
      error?: { message: string; data?: unknown };
      params?: { subscription: string; result: number[] };
    };
    if (msg.id !== undefined) {
      const r = replies.get(msg.id);
      replies.delete(msg.id);
      if (msg.error !== undefined)
        r?.reject(
          new Error(`homestar: ${msg.error.message} ${JSON.stringify(msg.error.data ?? '')}`),
        );
      else r?.resolve(String(msg.result));
      return;
    }
    if (msg.params === undefined) return;
    // Notifications carry DAG-JSON text as a byte array.
    const text = Buffer.from(msg.params.result).toString('utf8');
    if (msg.params.subscription === networkSub) {
      const event = JSON.parse(text) as {
        put_receipt_dht?: { cid: string; ran: string; timestamp: number };
      };
      if (event.put_receipt_dht !== undefined) for (const f of computed) f(event.put_receipt_dht);
      return;
    }
    const note = JSON.parse(text) as Notification;
    const sub = subscribers.get(msg.params.subscription);
    if (sub !== undefined) sub(note);
    else early.set(msg.params.subscription, [...(early.get(msg.params.subscription) ?? []), note]);
  });

  function call(method: string, params: unknown): Promise<string> {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      replies.set(id, { resolve, reject });
      ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  networkSub = await call('subscribe_network_events', []);

  function stored(): Map<string, { instruction: string; out: string; receipt: string }> {
    const db = new DatabaseSync(dbFile, { readOnly: true });
    try {
      const rows = db.prepare('SELECT cid, ran, instruction, out FROM receipts').all() as Array<{
        cid: string;
        ran: string;
        instruction: string;
        out: Uint8Array;
      }>;
      return new Map(
        rows.map((r) => [
          r.ran,
          {
            instruction: r.instruction,
            out: dagJson.stringify(dagCbor.decode(r.out)),
            receipt: r.cid,
          },
        ]),
      );
    } finally {
      db.close();
    }
  }

  return {
    pid: server.pid,
    kubo,
    async run(workflow, name, runOptions = {}) {
      const expected = workflow.expected.length;
      const wanted = new Set(workflow.invocations);
      const receipts = new Map<string, SeenReceipt>();
      let cid = '';
      let done!: () => void;
      let tDone = NaN;
      const all = new Promise<void>((resolve) => (done = resolve));
      const add = (r: SeenReceipt): void => {
        const had = receipts.get(r.ran);
        // The workflow notification carries the output; the network event only CIDs.
        if (had === undefined || had.out === undefined)
          receipts.set(r.ran, had === undefined ? r : { ...had, out: r.out, replayed: r.replayed });
        if (had === undefined && receipts.size === expected) {
          tDone = performance.now();
          done();
        }
      };
      const onNote = (n: Notification): void => {
        cid = n.metadata.workflow['/'];
        add({
          ran: n.receipt.ran['/'],
          receipt: n.receipt_cid['/'],
          out: dagJson.stringify(dagJson.decode(JSON.stringify(n.receipt.out))),
          replayed: n.metadata.replayed,
        });
      };
      const onComputed = (e: { cid: string; ran: string }): void => {
        if (wanted.has(e.ran)) add({ ran: e.ran, receipt: e.cid, out: undefined, replayed: false });
      };
      // A workflow whose receipts are all stored is replayed, and replayed receipts have no
      // network event: if their notifications are lost to the race, the run is timed to
      // Homestar's acknowledgement (a lower bound) and its receipts are read from the database.
      const before = stored();
      const memoized = workflow.invocations.every((r) => before.has(r));
      computed.add(onComputed);
      const t = performance.now();
      const sub = await call('subscribe_run_workflow', [
        { name, workflow: JSON.parse(workflow.json) as unknown },
      ]);
      const tAck = performance.now();
      subscribers.set(sub, onNote);
      for (const n of early.get(sub) ?? []) onNote(n);
      early.delete(sub);
      const timeoutMs = memoized
        ? REPLAY_GRACE_MS
        : (runOptions.timeoutMs ?? 60_000 + 2_000 * expected);
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), timeoutMs);
      });
      let note: string | undefined;
      try {
        if ((await Promise.race([all, timedOut])) === 'timeout') {
          if (!memoized)
            throw new Error(
              `homestar: ${receipts.size}/${expected} receipts of ${workflow.cid} after ${timeoutMs} ms`,
            );
          note = `replay notifications lost (${receipts.size}/${expected} came): timed to acknowledgement`;
          tDone = tAck;
          for (const [ran, r] of before)
            if (wanted.has(ran) && !receipts.has(ran))
              receipts.set(ran, { ran, receipt: r.receipt, out: r.out, replayed: true });
        }
      } finally {
        clearTimeout(timer);
        subscribers.delete(sub);
        computed.delete(onComputed);
      }
      const ms = tDone - t;
      await call('unsubscribe_run_workflow', [sub]).catch(() => undefined);
      return {
        cid: cid || (note === undefined ? '' : workflow.cid),
        ms,
        status: 'completed',
        receipts: [...receipts.values()],
        note,
      };
    },
    stored,
    rss: () => currentRss(server.pid),
    peakRss: () => peakRss(server.pid),
    async close() {
      ws.close();
      await server.stop(25_000);
      await kubo.close();
    },
  };
}
