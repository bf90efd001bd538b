/**
 * How the fast readers (`dag-cbor-read.ts`, `dag-json-read.ts`) step aside: they throw
 * {@link GIVE_UP} at anything outside what they read, and {@link unlessGivenUp} turns that into
 * `undefined`, on which the caller reads the bytes the general way (codecs.ts), which decides
 * and names the offset of what is wrong. Internal to `schemas/`.
 *
 * @module
 */

/** Thrown inside a fast reader to give up; never leaves `schemas/`. */
export const GIVE_UP = new Error('outside the fast readers');

/**
 * `read()`, or `undefined` when it gave up or recursed too deep for the stack (the general
 * reader bounds nesting without recursion); any other error is thrown on. `done()` runs after
 * it either way (a reader lets go of its input there).
 */
export function unlessGivenUp<T>(read: () => T, done: () => void): T | undefined {
  try {
    return read();
  } catch (err) {
    if (err === GIVE_UP || err instanceof RangeError) return undefined;
    throw err;
  } finally {
    done();
  }
}
