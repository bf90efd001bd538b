/**
 * What the JSON-RPC handler (`rpc.ts`) and the method sets plugged into it (the face's
 * `ipvm_*` methods in `face.ts`, the console's `console_*` in `console-rpc.ts`) share: the
 * session a message came from and the shape of a method set. Types only, so that neither side
 * imports the other.
 *
 * @module
 */

/** Where a message came from and where answers go. */
export interface RpcSession {
  /** Sends one text message (a response, a batch of responses or a notification). */
  send(text: string): void;
  /** True when the client can receive notifications later (WebSocket); false for HTTP. */
  readonly streaming: boolean;
}

/** A set of methods added to the handler, tried after the built-in ones. */
export interface RpcExtension {
  /** Answers a method it knows (`undefined` result = not mine), or throws an `RpcError`. */
  call(method: string, params: unknown, session: RpcSession): Promise<unknown> | undefined;
  /** The session's socket closed: end what it opened. */
  closeSession?(session: RpcSession): void;
  /** The handler closes. */
  close?(): void;
  /** OpenRPC method objects listed by `rpc_discover` while this set is plugged in. */
  readonly methods?: ReadonlyArray<Record<string, unknown>>;
}
