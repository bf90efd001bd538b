/**
 * The node's streams and their partition counts, under a configurable namespace.
 *
 * @example
 * ```ts
 * const topology = createTopology({ namespace: 'ipvm', partitions: { pure: 8 } });
 * await log.ensureStreams(topology.streams);
 * await log.append(topology.name('pure'), records); // stream "ipvm.pure"
 * ```
 *
 * @module
 */
import { assertStreamName, type StreamSpec } from './log.ts';

/** The logical stream names, in flow order. */
export const STREAM_NAMES = [
  'invocations',
  'pure',
  'effects.pure',
  'effects.managed',
  'dead-letter',
  'verification',
  'blocks',
] as const;

/** A logical stream name. */
export type StreamName = (typeof STREAM_NAMES)[number];

/** The logical stream names by role, for code that wants a constant rather than a string. */
export const STREAMS = {
  /** Workflow submissions, task invocations, workflow lifecycle events; keyed by workflow or instruction CID. */
  invocations: 'invocations',
  /** Receipts of `wasm/run` tasks; keyed by instruction CID. */
  pure: 'pure',
  /** Receipts of nondestructive effects; keyed by instruction CID. */
  effectsPure: 'effects.pure',
  /** Requests for destructive effects and their outcomes; keyed by instruction CID. */
  effectsManaged: 'effects.managed',
  /** Records that could not be decoded or validated, with the reason. */
  deadLetter: 'dead-letter',
  /** Verification mismatches (optimistic confirmations, re-executions); keyed by instruction CID. */
  verification: 'verification',
  /** Large values stored once, by CID, referenced from the other streams' records; keyed by CID. */
  blocks: 'blocks',
} as const satisfies Record<string, StreamName>;

/**
 * The streams computed receipts go to (by op: `processors/effects/ops.ts`). A receipt a workflow
 * replayed from the memo is on `invocations`, with its run: a reader of every receipt reads that
 * stream too.
 */
export const RECEIPT_STREAMS = [
  STREAMS.pure,
  STREAMS.effectsPure,
  STREAMS.effectsManaged,
] as const satisfies readonly StreamName[];

/** The full names of the {@link RECEIPT_STREAMS} under `topology`. */
export function receiptStreams(topology: Topology): string[] {
  return RECEIPT_STREAMS.map((s) => topology.name(s));
}

/** @default 'ipvm' */
export const DEFAULT_NAMESPACE = 'ipvm';

/** Partitions per stream when not configured. */
export const DEFAULT_PARTITIONS: Readonly<Record<StreamName, number>> = {
  invocations: 4,
  pure: 4,
  'effects.pure': 4,
  'effects.managed': 4,
  'dead-letter': 1,
  verification: 1,
  blocks: 4,
};

/** Construction options of {@link createTopology}. */
export interface TopologyInit {
  /**
   * Prefix of every stream name, joined with a dot (`ipvm` → `ipvm.pure`). An empty string
   * means no prefix.
   * @default 'ipvm'
   */
  namespace?: string;
  /** Partition counts overriding {@link DEFAULT_PARTITIONS}. */
  partitions?: Partial<Record<StreamName, number>>;
}

/** The resolved topology. */
export interface Topology {
  /** The namespace in use. */
  readonly namespace: string;
  /** Every stream with its full name and partition count, ready for `Log.ensureStreams`. */
  readonly streams: readonly StreamSpec[];
  /** Full name of a logical stream (`'pure'` → `'ipvm.pure'`). */
  name(stream: StreamName): string;
  /** Partition count of a logical stream. */
  partitions(stream: StreamName): number;
}

/**
 * Resolves the topology: full names and partition counts, validated once.
 * @throws {TypeError} on an invalid namespace or a partition count that is not a positive integer.
 */
export function createTopology(init: TopologyInit = {}): Topology {
  const namespace = init.namespace ?? DEFAULT_NAMESPACE;
  const counts = { ...DEFAULT_PARTITIONS, ...init.partitions };
  const name = (stream: StreamName): string =>
    namespace === '' ? stream : `${namespace}.${stream}`;
  const streams = STREAM_NAMES.map((stream) => {
    const partitions = counts[stream];
    if (!Number.isSafeInteger(partitions) || partitions < 1) {
      throw new TypeError(`partitions of ${stream} must be a positive integer, got ${partitions}`);
    }
    const full = name(stream);
    assertStreamName(full);
    return Object.freeze({ name: full, partitions });
  });
  return Object.freeze({
    namespace,
    streams: Object.freeze(streams),
    name,
    partitions: (stream: StreamName) => counts[stream],
  });
}
