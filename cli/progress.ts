// A one-line progress display on a terminal: `[#####.....] 2/3 tasks · 1 replayed · 0.4 s`,
// redrawn in place on stderr. Nothing at all is written when stderr is not a TTY (piped, CI).

/** The stream the display draws on (process.stderr, or a fake in tests). */
export interface ProgressStream {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): boolean;
}

/** A progress display. */
export interface Progress {
  /** Records one receipt (replayed or executed, ok or error) and redraws. */
  tick(r: { replayed: boolean; ok: boolean }): void;
  /** Erases the line before something else is printed; the next tick redraws it. */
  clear(): void;
  /** Erases the line for good. */
  done(): void;
}

const WIDTH = 24;

/** Creates a display for `total` tasks; a no-op unless `stream.isTTY`. */
export function createProgress(
  stream: ProgressStream,
  total: number,
  now: () => number = () => performance.now(),
): Progress {
  if (stream.isTTY !== true)
    return { tick: () => undefined, clear: () => undefined, done: () => undefined };
  const started = now();
  let count = 0;
  let replayed = 0;
  let errors = 0;
  let shown = false;
  let finished = false;
  const draw = (): void => {
    if (finished) return;
    const filled = total === 0 ? WIDTH : Math.min(WIDTH, Math.round((count / total) * WIDTH));
    const parts = [`${count}/${total} tasks`];
    if (replayed > 0) parts.push(`${replayed} replayed`);
    if (errors > 0) parts.push(`${errors} failed`);
    parts.push(`${((now() - started) / 1000).toFixed(1)} s`);
    let line = `[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${parts.join(' · ')}`;
    const columns = stream.columns ?? 80;
    if (line.length > columns - 1) line = line.slice(0, columns - 1);
    stream.write(`\r\x1b[2K${line}`);
    shown = true;
  };
  const clear = (): void => {
    if (shown) stream.write('\r\x1b[2K');
    shown = false;
  };
  draw();
  return {
    tick(r) {
      count++;
      if (r.replayed) replayed++;
      if (!r.ok) errors++;
      draw();
    },
    clear,
    done() {
      clear();
      finished = true;
    },
  };
}
