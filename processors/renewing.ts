/**
 * Maps and sets for the hot path's long-lived, short-membered collections: the in-flight
 * tasks, the announcements waiting for their commit, the offsets a consumer has open. Each
 * holds a few dozen entries at a time, but sees one to four insertions and deletions per
 * workflow for the whole life of the node.
 *
 * A plain `Map` is wrong for that in V8. It rehashes into a new table every few insertions
 * (deleted entries leave holes until then), and once the map has lived long enough for its
 * table to reach the old generation, V8 allocates every new table there too — and leaves each
 * replaced table, now garbage, still pointing at the entries it held. The young-generation
 * collector cannot tell that garbage from a live table, so every entry present at a rehash
 * (an event, a promise, the closures and CIDs they reach) outlives its use until the next
 * full collection: it is promoted, then collected by a mark-compact. At 10 000 workflows a
 * second this was ~6 KB promoted and ~8 KB of old space filled per workflow, the mark-compacts
 * it caused, and ~60 MiB of peak RSS.
 *
 * These renew their table before it can grow old: after as many insertions as the collection
 * holds (plus a small floor), the entries move to a fresh table and the previous one is
 * dropped while still young. That costs one copy of a small collection every so often — less
 * than the rehashes it replaces — and nothing on a lookup. A collection past
 * {@link RENEW_UP_TO} entries is no longer renewed (copying it would cost more than its
 * garbage): use these only for collections that stay small.
 *
 * Iteration sees the entries of the table it started on: deleting while iterating is safe
 * (a deletion never renews), but an entry set during an iteration may not be visited.
 *
 * @module
 */

/** Entries up to which a collection is renewed. */
export const RENEW_UP_TO = 1024;
/** Insertions a collection takes before it renews, at least (a near-empty one is not renewed at each). */
const FLOOR = 32;

/** Whether a collection of `size` entries renews after `inserted` insertions into its table. */
const renews = (inserted: number, size: number): boolean =>
  inserted > size + FLOOR && size < RENEW_UP_TO;

/** A `Map` whose table is renewed while it is small (see the module's documentation). */
export class RenewingMap<K, V> implements Iterable<[K, V]> {
  #map: Map<K, V>;
  #sets = 0;

  constructor(entries?: Iterable<readonly [K, V]>) {
    this.#map = new Map(entries);
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    return this.#map.get(key);
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  set(key: K, value: V): this {
    const map = this.#map;
    const size = map.size;
    map.set(key, value);
    // (an update in place leaves no hole: only insertions count)
    if (map.size > size && renews(++this.#sets, size)) {
      this.#map = new Map(map);
      this.#sets = 0;
    }
    return this;
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map = new Map();
    this.#sets = 0;
  }

  keys(): MapIterator<K> {
    return this.#map.keys();
  }

  values(): MapIterator<V> {
    return this.#map.values();
  }

  entries(): MapIterator<[K, V]> {
    return this.#map.entries();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.#map.entries();
  }
}

/**
 * A `Set` whose table is renewed while it is small (see the module's documentation): a
 * {@link RenewingMap} of its values, which renews for it.
 */
export class RenewingSet<T> implements Iterable<T> {
  #map = new RenewingMap<T, true>();

  constructor(values?: Iterable<T>) {
    if (values !== undefined) for (const v of values) this.#map.set(v, true);
  }

  get size(): number {
    return this.#map.size;
  }

  has(value: T): boolean {
    return this.#map.has(value);
  }

  add(value: T): this {
    this.#map.set(value, true);
    return this;
  }

  delete(value: T): boolean {
    return this.#map.delete(value);
  }

  clear(): void {
    this.#map.clear();
  }

  values(): MapIterator<T> {
    return this.#map.keys();
  }

  [Symbol.iterator](): MapIterator<T> {
    return this.#map.keys();
  }
}
