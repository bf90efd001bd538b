/**
 * Effects: the node's only way to the outside world. See README.md for the contract.
 *
 * @module
 */
export * from './allow-list.ts';
export * from './effect-runner.ts';
export * from './engine.ts';
export * from './errors.ts';
export * from './http-client.ts';
export * from './idempotency.ts';
export * from './ops.ts';
export * from './outbox.ts';
export * from './emitted.ts';
