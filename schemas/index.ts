/**
 * The IPVM data model: values, codecs, CIDs, validation and stream events.
 * @module
 */
export * from './ipld.ts';
export * from './codecs.ts';
export * from './cid.ts';
export * from './compose.ts';
export * from './errors.ts';
export * from './model.ts';
export * from './events.ts';
export type * from './types.ts';
