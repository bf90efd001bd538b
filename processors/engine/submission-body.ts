/**
 * Re-submissions by reference. A workflow submitted again (a re-run) is written as a
 * `workflow/submitted` event with a null body and a `source`: the partition and offset of an
 * earlier submission of the same workflow, on the same stream, that holds the body. Readers that
 * need the tasks resolve it here; the body read back must hash to the workflow CID.
 *
 * @module
 */
import type { AppendResult, Log } from '../../streams/log.ts';
import type { WorkflowSubmittedEvent } from '../../schemas/events.ts';
import { readAt } from '../../streams/read-at.ts';
import { decodeRecord } from './envelope.ts';
import { KeyIndex, NumberColumn } from './key-index.ts';
import { SchemaError } from '../../schemas/errors.ts';
import type { IpldValue } from '../../schemas/ipld.ts';
import { parseWorkflow } from '../../schemas/model.ts';
import type { ParsedWorkflow } from '../../schemas/model.ts';

/** Partitions a position packed as one number can name (the rest are kept as objects). */
const PACKED_PARTITIONS = 4096;

/**
 * Where each workflow's body was last written, by workflow CID (kept by the writer for the life
 * of the process): one number per workflow, `offset * 4096 + partition`, in a column of the
 * engine's shared index of workflows (key-index.ts), off the heap.
 */
export class BodyPositions {
  #workflows: KeyIndex;
  #at = new NumberColumn();
  /** Positions too large to pack (rare). */
  #unpacked = new Map<number, AppendResult>();

  /** @param workflows the engine's shared index of workflows; default: its own */
  constructor(workflows: KeyIndex = new KeyIndex()) {
    this.#workflows = workflows;
  }

  /** Bytes of memory the positions take (not the workflows' CIDs). */
  get bytes(): number {
    return this.#at.bytes;
  }

  set(workflow: string, partition: number, offset: number): void {
    const id = this.#workflows.add(workflow);
    if (partition < PACKED_PARTITIONS && offset < Number.MAX_SAFE_INTEGER / PACKED_PARTITIONS) {
      this.#at.set(id, offset * PACKED_PARTITIONS + partition);
      this.#unpacked.delete(id);
    } else {
      this.#at.set(id, Number.NaN);
      this.#unpacked.set(id, { partition, offset });
    }
  }

  get(workflow: string): AppendResult | undefined {
    const id = this.#workflows.id(workflow);
    if (id < 0) return undefined;
    const v = this.#at.get(id);
    if (Number.isNaN(v)) return this.#unpacked.get(id);
    return { partition: v % PACKED_PARTITIONS, offset: Math.floor(v / PACKED_PARTITIONS) };
  }
}

/**
 * The submission with its body, read from `source` when it has none; `parsed` is its parse.
 * @throws {SchemaError} the source is not a submission of this workflow with a body
 */
export async function withBody(
  log: Log,
  stream: string,
  event: WorkflowSubmittedEvent,
  options: { signal?: AbortSignal } = {},
): Promise<{ event: WorkflowSubmittedEvent; parsed: ParsedWorkflow }> {
  if (event.body !== null)
    return { event, parsed: parseWorkflow(event.body as unknown as IpldValue) };
  const source = event.source;
  const where = `source ${stream}/${source?.partition}@${source?.offset}`;
  if (source === undefined) throw new SchemaError('body', 'null without a source');
  const [record] = (
    await readAt(log, stream, source.partition, [source.offset], { signal: options.signal })
  ).values();
  const decoded = record === undefined ? undefined : decodeRecord(record);
  if (decoded instanceof Error)
    throw new SchemaError('source', `${where}: ${decoded.message}`, { cause: decoded });
  const found = decoded?.event.type === 'workflow/submitted' ? decoded.event : undefined;
  if (found === undefined || found.body === null)
    throw new SchemaError('source', `${where}: no submission with a body there`);
  const want = event.workflow.toString();
  if (found.workflow.toString() !== want)
    throw new SchemaError(
      'source',
      `${where}: holds workflow ${found.workflow.toString()}, not ${want}`,
    );
  const parsed = parseWorkflow(found.body as unknown as IpldValue);
  if (parsed.cid.toString() !== want)
    throw new SchemaError('source', `${where}: its body hashes to ${parsed.cid.toString()}`);
  return { event: { ...event, body: found.body }, parsed };
}
