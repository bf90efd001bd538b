/**
 * The effect abilities (`op`) and which stream their receipts go to.
 *
 * @module
 */
import type { StreamName } from '../../streams/topology.ts';

/** Nondestructive effects: once recorded, their receipt is a value (memoized like Wasm). */
export const PURE_EFFECT_OPS = ['http/get', 'http/head', 'random/bytes', 'time/now'] as const;
/** Destructive effects: run exactly once per instruction CID + nonce through the outbox. */
export const MANAGED_EFFECT_OPS = ['http/post', 'http/put', 'http/patch', 'http/delete'] as const;

export type PureEffectOp = (typeof PURE_EFFECT_OPS)[number];
export type ManagedEffectOp = (typeof MANAGED_EFFECT_OPS)[number];
export type EffectOp = PureEffectOp | ManagedEffectOp;

const PURE = new Set<string>(PURE_EFFECT_OPS);
const MANAGED = new Set<string>(MANAGED_EFFECT_OPS);

/** `'pure'`, `'managed'`, or undefined for an op that is not an effect (e.g. `wasm/run`). */
export function effectKind(op: string): 'pure' | 'managed' | undefined {
  if (PURE.has(op)) return 'pure';
  if (MANAGED.has(op)) return 'managed';
  return undefined;
}

/** True for the ops of {@link PURE_EFFECT_OPS} and {@link MANAGED_EFFECT_OPS}. */
export function isEffectOp(op: string): op is EffectOp {
  return PURE.has(op) || MANAGED.has(op);
}

/** The stream a receipt of `op` is written to: effects by kind, everything else `pure`. */
export function receiptStreamOf(op: string): StreamName {
  const kind = effectKind(op);
  return kind === 'pure' ? 'effects.pure' : kind === 'managed' ? 'effects.managed' : 'pure';
}
