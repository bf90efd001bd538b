// A progress bar for long jobs (replays) on a terminal's stderr; nothing at all when stderr is
// not a TTY or when disabled (--json).

/** A bar updated with (done, total). */
export interface Bar {
  update: (done: number, total: number) => void;
  stop(): void;
}

/** Creates a bar drawing on `stream` when it is a TTY and `enabled`. */
export async function createBar(stream: NodeJS.WriteStream, enabled: boolean): Promise<Bar> {
  if (!enabled || stream.isTTY !== true) return { update: () => undefined, stop: () => undefined };
  const { SingleBar, Presets } = await import('cli-progress');
  const bar = new SingleBar(
    { stream, format: '[{bar}] {value}/{total} · {percentage}% · {duration}s', hideCursor: true },
    Presets.legacy,
  );
  let started = false;
  let last = 0;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      const now = performance.now();
      if (done < total && now - last < 100) return;
      last = now;
      bar.setTotal(total);
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
      started = false;
    },
  };
}
