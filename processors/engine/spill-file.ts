/**
 * A scratch file for bytes the process keeps but rarely reads: written in large blocks off the
 * event loop, read back a value at a time. Not durable and not shared: the file is unlinked as
 * soon as it is open, so it is gone when the process ends, however it ends; what it holds is
 * rebuilt from the log at the next start.
 *
 * @module
 */
import { closeSync, mkdirSync, openSync, readSync, unlinkSync, write } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

/** An open scratch file. */
export class SpillFile {
  #fd: number | undefined;
  #size = 0;
  #pending = 0;
  #closing = false;

  /**
   * Creates the file in `dir` (made if missing) and unlinks it at once.
   * @throws the file cannot be created (the caller keeps its bytes in memory instead)
   */
  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `.spill-${process.pid}-${randomBytes(6).toString('hex')}`);
    this.#fd = openSync(path, 'wx+', 0o600);
    try {
      unlinkSync(path);
    } catch {
      // A platform that cannot unlink an open file: it stays until the directory is cleaned.
    }
  }

  /** Creates the file in `dir`, or gives `undefined` when it cannot (the caller keeps its bytes). */
  static tryOpen(dir: string): SpillFile | undefined {
    try {
      return new SpillFile(dir);
    } catch {
      return undefined;
    }
  }

  /**
   * Writes `bytes` at the end of the file without blocking; `done` gets their position once
   * they are there, or an error (the caller then keeps them in memory). `bytes` must not change
   * until then.
   */
  append(bytes: Uint8Array, done: (error: Error | null, position: number) => void): void {
    const fd = this.#fd;
    if (fd === undefined || this.#closing) {
      done(new Error('spill file closed'), -1);
      return;
    }
    const position = this.#size;
    this.#size += bytes.length;
    this.#pending++;
    write(fd, bytes, 0, bytes.length, position, (error, written) => {
      this.#pending--;
      if (this.#closing && this.#pending === 0) this.#release();
      done(
        error ?? (written === bytes.length ? null : new Error(`short write: ${written} bytes`)),
        position,
      );
    });
  }

  /** Reads `into.length` bytes at `position` (synchronously: a page-cache copy, microseconds). */
  read(position: number, into: Uint8Array): Uint8Array {
    if (this.#fd === undefined || this.#closing) throw new Error('spill file closed');
    let got = 0;
    while (got < into.length) {
      const n = readSync(this.#fd, into, got, into.length - got, position + got);
      if (n === 0) throw new Error(`spill file ends before ${position + into.length}`);
      got += n;
    }
    return into;
  }

  /** Closes the file once the writes in flight are done (their `done` still runs). */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#pending === 0) this.#release();
  }

  #release(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }
}
