// What a node with an API serves to the CLI's remote mode and the client library: the face methods of
// the API (processors/api/face.ts) over this node's log, content store and tables.
import type { FaceInit } from './face.ts';
import type { TableStore } from '../tables/index.ts';
import { readEvents, readWorkflows } from './log-view.ts';
import { receiptStreams } from '../../streams/topology.ts';
import type { Log } from '../../streams/log.ts';
import type { ContentStore } from '../content/index.ts';
import type { IpvmNode } from '../engine/types.ts';
import { assertReadOnlySql } from './sql-guard.ts';

/** Options of {@link faceInit}. */
export interface FaceServerInit {
  /** The node, its log and its content store. */
  opened: { node: IpvmNode; log: Log; content: ContentStore };
  /** The tables the node indexes (`--tables`); else the embedded ones are opened on first use. */
  tables?: TableStore;
  /** Resolves once {@link FaceServerInit.tables} hold what the log held when it was called. */
  tablesCaughtUp?: (options?: { signal?: AbortSignal }) => Promise<void>;
  /** Opens the tables when the node does not index them. */
  openTables?: () => Promise<{ store: TableStore; catchUp: () => Promise<void> }>;
}

/** The face methods' dependencies for an opened node. */
export function faceInit(init: FaceServerInit): FaceInit & { close(): Promise<void> } {
  const { node, log, content } = init.opened;
  let lazy: Promise<{ store: TableStore; catchUp: () => Promise<void> }> | undefined;
  /** One catch-up at a time: queries that arrive together share the next one. */
  let catching: Promise<void> = Promise.resolve();
  return {
    node,
    workflows: ({ signal }) => readWorkflows(log, node.topology, { signal }),
    events: ({ from, follow, signal }) =>
      readEvents(log, [...receiptStreams(node.topology), node.topology.name('invocations')], {
        from,
        follow,
        signal,
      }),
    add: (bytes, { signal }) => content.add(bytes, { signal }),
    sql: async (query, { format, write, signal }) => {
      if (write !== true) assertReadOnlySql(query);
      let store = init.tables;
      // Read your writes: a query sees every receipt and end the node appended before it (the
      // live indexer writes in batches, up to 200 ms apart).
      if (store !== undefined) await init.tablesCaughtUp?.({ signal });
      else {
        if (init.openTables === undefined) throw new Error('this node serves no tables');
        lazy ??= init.openTables();
        const opened = await lazy;
        // Tables nobody indexes live: bring them up to date from the log before each query.
        catching = catching.then(opened.catchUp, opened.catchUp);
        await catching;
        store = opened.store;
      }
      return format === 'json'
        ? store.query(query, { signal })
        : store.query(query, { format, signal });
    },
    async close() {
      if (lazy !== undefined) await (await lazy).store.close();
    },
  };
}
