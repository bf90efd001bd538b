// Errors of the JSON-RPC API. Each maps onto a JSON-RPC 2.0 error object; `retryable` says
// whether the same request may succeed later (infrastructure) or never will (bad input).

/** JSON-RPC 2.0 error codes used by the API (the standard ones, and jsonrpsee's "busy"). */
export const RPC_ERROR = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** jsonrpsee's ServerIsBusy, which Homestar returns when it cannot take a workflow. */
  serverBusy: -32009,
  /** The node runs in `ucan` mode and a task's proof is missing or refused (`data.rule`). */
  unauthorized: -32001,
} as const;

/** A request the API answers with a JSON-RPC error object. */
export class RpcError extends Error {
  override name = 'RpcError';
  /** The JSON-RPC error code. */
  readonly code: number;
  /** Extra context sent as the error's `data` (e.g. the field path of a bad workflow). */
  readonly data: Record<string, unknown> | undefined;
  /** True when the same request may succeed later. */
  readonly retryable: boolean;
  constructor(
    code: number,
    message: string,
    options: { cause?: unknown; data?: Record<string, unknown>; retryable?: boolean } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.data = options.data;
    this.retryable = options.retryable ?? false;
  }

  /** The JSON-RPC error object. */
  toJSON(): { code: number; message: string; data?: Record<string, unknown> } {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

/** The API server could not start listening (port taken, address unavailable). Retryable. */
export class ApiListenError extends Error {
  override name = 'ApiListenError';
  readonly retryable = true;
  /** The host and port asked for. */
  readonly host: string;
  readonly port: number;
  constructor(host: string, port: number, options: { cause?: unknown } = {}) {
    super(
      `cannot listen on ${host}:${port}: ${(options.cause as Error | undefined)?.message ?? 'unknown error'}`,
      options,
    );
    this.host = host;
    this.port = port;
  }
}
