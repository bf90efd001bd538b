/**
 * The OpenRPC document of the API, returned by `rpc_discover` (and `rpc.discover`). It lists the
 * methods Homestar's webserver offers that this node implements, with JSON Schemas of their
 * parameters and results.
 *
 * @module
 */
const link = {
  title: 'IPLD link',
  type: 'object',
  required: ['/'],
  properties: { '/': { type: 'string', description: 'CID string' } },
} as const;

const receipt = {
  title: 'Receipt',
  type: 'object',
  required: ['ran', 'out', 'meta', 'prf'],
  properties: {
    ran: { ...link, description: 'CID of the invocation that ran' },
    out: {
      type: 'array',
      minItems: 2,
      maxItems: 2,
      description: '["ok", value] or ["error", value], values in DAG-JSON',
      prefixItems: [{ enum: ['ok', 'error'] }, {}],
    },
    meta: { type: 'object' },
    iss: { type: ['string', 'null'] },
    prf: { type: 'array', items: link },
  },
} as const;

const workflow = {
  title: 'Workflow',
  description: 'A Homestar v0.2 workflow in DAG-JSON: {tasks: [{run, cause, meta, prf}]}',
  type: 'object',
  required: ['tasks'],
  properties: {
    tasks: { type: 'array', minItems: 1, items: { type: 'object', required: ['run'] } },
  },
} as const;

/** Builds the document for a given node version, listing `extra` methods (plugged-in sets). */
export function openRpcDocument(
  version: string,
  extra: ReadonlyArray<Record<string, unknown>> = [],
): Record<string, unknown> {
  return {
    openrpc: '1.2.6',
    info: {
      title: 'ipvm-node',
      description: "JSON-RPC 2.0 API of an IPVM node, compatible with Homestar's webserver API",
      version,
    },
    methods: [
      {
        name: 'rpc_discover',
        description: 'This document (also answered to rpc.discover and GET /rpc_discover)',
        params: [],
        result: { name: 'OpenRPC document', schema: { type: 'object' } },
      },
      {
        name: 'health',
        description: 'Whether the node can reach its streams (also GET /health)',
        params: [],
        result: {
          name: 'health',
          schema: {
            type: 'object',
            required: ['healthy'],
            properties: { healthy: { type: 'boolean' } },
          },
        },
      },
      {
        name: 'metrics',
        description:
          "Prometheus metrics as JSON, in Homestar's shape (GET /metrics serves the text format)",
        params: [],
        result: {
          name: 'metrics',
          schema: {
            type: 'object',
            required: ['metrics'],
            properties: {
              metrics: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['metric_type', 'metric_name', 'help', 'data'],
                  properties: {
                    metric_type: { enum: ['gauge', 'histogram', 'summary'] },
                    metric_name: { type: 'string' },
                    help: { type: 'string' },
                    data: { type: 'array' },
                  },
                },
              },
            },
          },
        },
      },
      {
        name: 'node',
        description: 'Node information (also GET /node)',
        params: [],
        result: {
          name: 'node_info',
          schema: {
            type: 'object',
            required: ['static', 'dynamic'],
            properties: {
              static: {
                type: 'object',
                required: ['peer_id'],
                properties: { peer_id: { type: 'string' } },
              },
              dynamic: {
                type: 'object',
                required: ['listeners', 'connections'],
                properties: {
                  listeners: { type: 'array', items: { type: 'string' } },
                  connections: { type: 'object', additionalProperties: { type: 'string' } },
                },
              },
            },
          },
        },
      },
      {
        name: 'subscribe_run_workflow',
        description:
          "Runs a workflow and subscribes to its receipts (WebSocket only). Each notification's " +
          'params.result is the array of UTF-8 bytes of a DAG-JSON receipt notification; one is sent ' +
          'per task, with metadata.replayed true for receipts answered from the memo.',
        paramStructure: 'by-position',
        params: [
          {
            name: 'run',
            required: true,
            description:
              '{name?, workflow} in DAG-JSON, or the bytes (array of numbers) of {name, workflow} in DAG-CBOR',
            schema: {
              oneOf: [
                {
                  type: 'object',
                  required: ['workflow'],
                  properties: { name: { type: 'string' }, workflow },
                },
                { type: 'array', items: { type: 'integer', minimum: 0, maximum: 255 } },
              ],
            },
          },
        ],
        result: { name: 'subscription_id', schema: { type: 'string' } },
        'x-messages': {
          name: 'receipt notification',
          schema: {
            title: 'Receipt notification',
            type: 'object',
            required: ['metadata', 'receipt', 'receipt_cid'],
            properties: {
              metadata: {
                type: 'object',
                required: ['name', 'replayed', 'workflow'],
                properties: {
                  name: { type: 'string' },
                  replayed: { type: 'boolean' },
                  workflow: link,
                },
              },
              receipt,
              receipt_cid: link,
            },
          },
        },
      },
      {
        name: 'unsubscribe_run_workflow',
        description: 'Ends a workflow subscription (the workflow keeps running)',
        paramStructure: 'by-position',
        params: [{ name: 'subscription_id', required: true, schema: { type: 'string' } }],
        result: { name: 'unsubscribed', schema: { type: 'boolean' } },
      },
      ...extra,
    ],
  };
}
