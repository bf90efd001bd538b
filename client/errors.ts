// Errors of the client library: what the node answered (an RPC error, with its code and data),
// or the connection itself (retryable).

/** The node answered a call with a JSON-RPC error. */
export class NodeRpcError extends Error {
  override name = 'NodeRpcError';
  /** The JSON-RPC error code (-32602 invalid params, -32601 method not found, …). */
  readonly code: number;
  /** The error's `data` (e.g. `{path, reason}` of a bad workflow). */
  readonly data: unknown;
  /** True when the same call may succeed later (the node was busy). */
  readonly retryable: boolean;
  /** True when the node says the call itself was wrong (e.g. a refused SQL statement). */
  readonly usage: boolean;
  constructor(method: string, error: { code: number; message: string; data?: unknown }) {
    super(`${method}: ${error.message}`);
    this.code = error.code;
    this.data = error.data;
    this.usage = (error.data as { usage?: unknown } | undefined)?.usage === true;
    // -32009: the server is busy; -32603 internal errors of a submission may pass too.
    this.retryable = error.code === -32009;
  }
}

/** The node cannot be reached, or the connection closed under a call. Retryable. */
export class NodeConnectionError extends Error {
  override name = 'NodeConnectionError';
  readonly retryable = true;
  /** The node's URL. */
  readonly url: string;
  constructor(url: string, message: string, options?: ErrorOptions) {
    super(`${url}: ${message}`, options);
    this.url = url;
  }
}
