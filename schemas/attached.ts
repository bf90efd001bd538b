/**
 * Values attached to objects under a private symbol: what a `WeakMap` keyed by the object would
 * hold, for objects made by the hot path (a parse, its workflow, a receipt, an event) by the
 * thousand a second.
 *
 * Every entry of a `WeakMap` is an ephemeron, and the old space's collection settles the
 * ephemerons of all entries it finds — those of objects long dead included — in its final
 * pause: a node running ~9 000 workflows a second held tens of thousands and its mark-compact
 * pauses took ~45% longer (bench/README.md, seventeenth part). A property costs the collector
 * nothing more than the object it is on.
 *
 * The property is not enumerable: copies (`{ ...o }`, `Object.assign`), encoders, JSON and
 * equality checks do not see it, so a copy carries nothing, as with a `WeakMap` keyed by
 * identity. An object that cannot take a property (frozen, sealed) is left as it is, and `get`
 * then answers `undefined`.
 *
 * @module
 */

/** A value per object, as {@link attached} keeps it. */
export interface Attached<T> {
  /** The value attached to `o`, if any. */
  get(o: object): T | undefined;
  /** Attaches `value` to `o` (replacing one attached before); nothing when `o` is not extensible. */
  set(o: object, value: T): void;
  /** Whether a value is attached to `o`. */
  has(o: object): boolean;
}

/** A fresh private key: values attached with it are seen only through it. */
export function attached<T>(description: string): Attached<T> {
  const key = Symbol(description);
  return {
    get: (o) => (o as Record<symbol, T | undefined>)[key],
    set(o, value) {
      if (!Object.isExtensible(o) && !Object.hasOwn(o, key)) return;
      Object.defineProperty(o, key, { value, writable: true, configurable: true });
    },
    has: (o) => Object.hasOwn(o, key),
  };
}
