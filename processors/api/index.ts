// The node's JSON-RPC 2.0 API (HTTP and WebSocket), compatible with Homestar's webserver API.
export { createApiServer, DEFAULT_API_HOST, HOMESTAR_DEFAULT_PORT } from './server.ts';
export type { ApiServer, ApiServerInit } from './server.ts';
export { createRpcHandler, METHODS } from './rpc.ts';
export type { RpcHandler, RpcHandlerInit, RpcSession } from './rpc.ts';
export { encodeReceiptNotification, subscriptionMessage } from './notification.ts';
export type { ReceiptNotification } from './notification.ts';
export { openRpcDocument } from './openrpc.ts';
export { ApiListenError, RPC_ERROR, RpcError } from './errors.ts';
