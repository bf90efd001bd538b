// Host imports offered to components: Homestar's helpers, wasi:logging, and a deterministic
// WASI subset. Everything a guest can observe is fixed by the request: the "current time" is
// the request's epoch, there are no arguments, environment or files, and clocks and randomness
// trap when called (modules may import them; they may not use them).
import { WasmTaskError } from './errors.ts';

/** Levels of `wasi:logging/logging`. */
export type GuestLogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'critical';

/** One line a guest logged, printed or wrote to stdout/stderr. */
export interface GuestLog {
  level: GuestLogLevel;
  /** `print`, `stdout`, `stderr`, or the context the guest passed to `wasi:logging`. */
  context: string;
  message: string;
}

export interface HostContext {
  /** Milliseconds since the Unix epoch that `get-current-time` reports. */
  epochMs: number;
  /** Receives guest output in order. */
  log: (entry: GuestLog) => void;
}

function nondeterministic(what: string): never {
  throw new WasmTaskError('trap', `${what} is not available: tasks must be deterministic`);
}

class Pollable {
  ready(): boolean {
    return true;
  }
  block(): void {}
}

class IoError {
  toDebugString(): string {
    return 'io error';
  }
}

// jco's glue turns a thrown error's `payload` into the `err` of a WIT result.
const streamClosed = (): Error =>
  Object.assign(new Error('stream closed'), { payload: { tag: 'closed' } });

class InputStream {
  read(): Uint8Array {
    throw streamClosed();
  }
  blockingRead(): Uint8Array {
    throw streamClosed();
  }
  subscribe(): Pollable {
    return new Pollable();
  }
}

class OutputStream {
  readonly #context: 'stdout' | 'stderr';
  readonly #ctx: HostContext;
  constructor(context: 'stdout' | 'stderr', ctx: HostContext) {
    this.#context = context;
    this.#ctx = ctx;
  }
  checkWrite(): bigint {
    return 1_048_576n;
  }
  write(contents: Uint8Array): void {
    const message = new TextDecoder().decode(contents).replace(/\n$/, '');
    this.#ctx.log({
      level: this.#context === 'stderr' ? 'warn' : 'info',
      context: this.#context,
      message,
    });
  }
  blockingWriteAndFlush(contents: Uint8Array): void {
    this.write(contents);
  }
  flush(): void {}
  blockingFlush(): void {}
  subscribe(): Pollable {
    return new Pollable();
  }
}

class TerminalInput {}
class TerminalOutput {}
class Descriptor {}
class DirectoryEntryStream {}

/**
 * The import object handed to jco's `instantiate`, keyed by interface name without version.
 * Interfaces the guest needs but that are absent here are reported by {@link missingImports}.
 */
export function hostImports(ctx: HostContext): Record<string, Record<string, unknown>> {
  const stdout = new OutputStream('stdout', ctx);
  const stderr = new OutputStream('stderr', ctx);
  return {
    'homestar:host/helpers': {
      getCurrentTime: () => ({
        seconds: BigInt(Math.floor(ctx.epochMs / 1000)),
        milliseconds: Math.floor(ctx.epochMs % 1000),
        nanoseconds: 0,
      }),
      print: (msg: string) => ctx.log({ level: 'info', context: 'print', message: msg }),
    },
    'wasi:logging/logging': {
      log: (level: GuestLogLevel, context: string, message: string) =>
        ctx.log({ level, context, message }),
    },
    'wasi:cli/environment': {
      getEnvironment: () => [],
      getArguments: () => [],
      initialCwd: () => undefined,
    },
    'wasi:cli/exit': {
      exit: (status: { tag: string }) => {
        throw new WasmTaskError(
          'trap',
          `guest exited with ${status.tag === 'ok' ? 'success' : 'failure'}`,
        );
      },
    },
    'wasi:cli/stdin': { getStdin: () => new InputStream() },
    'wasi:cli/stdout': { getStdout: () => stdout },
    'wasi:cli/stderr': { getStderr: () => stderr },
    'wasi:cli/terminal-input': { TerminalInput },
    'wasi:cli/terminal-output': { TerminalOutput },
    'wasi:cli/terminal-stdin': { getTerminalStdin: () => undefined },
    'wasi:cli/terminal-stdout': { getTerminalStdout: () => undefined },
    'wasi:cli/terminal-stderr': { getTerminalStderr: () => undefined },
    'wasi:io/error': { Error: IoError },
    'wasi:io/poll': { Pollable, poll: (list: Pollable[]) => Uint32Array.from(list.keys()) },
    'wasi:io/streams': { InputStream, OutputStream },
    'wasi:filesystem/preopens': { getDirectories: () => [] },
    'wasi:filesystem/types': {
      Descriptor,
      DirectoryEntryStream,
      filesystemErrorCode: () => undefined,
    },
    'wasi:clocks/wall-clock': {
      now: () => nondeterministic('wasi:clocks/wall-clock#now'),
      resolution: () => nondeterministic('wasi:clocks/wall-clock#resolution'),
    },
    'wasi:clocks/monotonic-clock': {
      now: () => nondeterministic('wasi:clocks/monotonic-clock#now'),
      resolution: () => nondeterministic('wasi:clocks/monotonic-clock#resolution'),
      subscribeInstant: () => nondeterministic('wasi:clocks/monotonic-clock#subscribe-instant'),
      subscribeDuration: () => nondeterministic('wasi:clocks/monotonic-clock#subscribe-duration'),
    },
    'wasi:random/random': {
      getRandomBytes: () => nondeterministic('wasi:random/random#get-random-bytes'),
      getRandomU64: () => nondeterministic('wasi:random/random#get-random-u64'),
    },
    'wasi:random/insecure': {
      getInsecureRandomBytes: () =>
        nondeterministic('wasi:random/insecure#get-insecure-random-bytes'),
      getInsecureRandomU64: () => nondeterministic('wasi:random/insecure#get-insecure-random-u64'),
    },
    'wasi:random/insecure-seed': {
      insecureSeed: () => nondeterministic('wasi:random/insecure-seed#insecure-seed'),
    },
  };
}

/** Interface names the host provides (without versions). */
export const PROVIDED_INTERFACES: ReadonlySet<string> = new Set(
  Object.keys(hostImports({ epochMs: 0, log: () => {} })),
);

/** Strip the `@version` of an interface name. */
export const unversioned = (name: string): string => name.replace(/@[^/]*$/, '');

/** Imports of a component that this host does not provide. */
export function missingImports(imports: readonly string[]): string[] {
  return imports.filter((i) => !PROVIDED_INTERFACES.has(unversioned(i)));
}

/**
 * Wrap an import object so that jco's glue reading a function the host lacks fails at
 * instantiation with a located error instead of a later `undefined is not a function`.
 */
export function strictImports(
  imports: Record<string, Record<string, unknown>>,
): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [iface, fns] of Object.entries(imports)) {
    out[iface] = new Proxy(fns, {
      get(target, prop) {
        if (typeof prop === 'string' && !(prop in target)) {
          throw new WasmTaskError(
            'unknown-import',
            `import ${iface}#${prop} is not provided by this node`,
          );
        }
        return target[prop as keyof typeof target];
      },
    });
  }
  return out;
}
