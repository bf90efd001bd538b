/**
 * The cheap check of a verify job: every receipt's CID is re-derived from its body, and its
 * `ran` must be the invocation it claims, and a signed receipt's signature must verify against
 * its issuer's DID. No execution.
 *
 * @module
 */
import { decodeEvent, type NodeEvent } from '../../schemas/events.ts';
import { encodeReceipt } from '../../schemas/model.ts';
import type { Log, LogRecord } from '../../streams/log.ts';
import { ed25519Verify } from '../auth/ed25519.ts';
import { ROUTING } from '../engine/envelope.ts';

/** A located finding of a verify job. */
export interface Finding {
  stream: string;
  partition: number;
  offset: number;
  /** The instruction, when the record could be decoded. */
  instruction: string | null;
  reason: string;
}

/**
 * Re-hashes (and checks the signatures of) the receipts of `streams` that `filter` keeps. On
 * the streams in `options.mixed`, which carry other records too (`invocations`: submissions,
 * ends, a producer's plain workflow documents, and the receipts a workflow replayed), only
 * receipts are checked: a record whose routing header names another type is skipped undecoded,
 * and one that is not a receipt event is skipped, not reported.
 */
export async function checkReceipts(
  log: Log,
  streams: readonly string[],
  filter: (record: LogRecord) => boolean,
  options: { signal?: AbortSignal; onRecord?: () => void; mixed?: readonly string[] } = {},
): Promise<{ checked: number; unsigned: number; findings: Finding[] }> {
  let checked = 0;
  let unsigned = 0;
  const findings: Finding[] = [];
  for (const stream of streams) {
    const mixed = options.mixed?.includes(stream) === true;
    for await (const record of log.read(stream, { signal: options.signal })) {
      options.onRecord?.();
      if (!filter(record)) continue;
      const type = record.headers[ROUTING.type];
      if (mixed && type !== undefined && type !== 'receipt') continue;
      const where = { stream, partition: record.partition, offset: record.offset };
      let event: NodeEvent;
      try {
        event = decodeEvent(record.value);
      } catch (err) {
        // On a mixed stream: a producer's document, or the dead letters' business.
        if (!mixed) findings.push({ ...where, instruction: null, reason: (err as Error).message });
        continue;
      }
      if (event.type !== 'receipt') continue;
      try {
        checked++;
        const at = { ...where, instruction: event.instruction.toString() };
        const cid = encodeReceipt(event.body).cid.toString();
        const receipt = event.receipt.toString();
        const ran = event.body.ran.toString();
        const invocation = event.invocation.toString();
        if (cid !== receipt)
          findings.push({ ...at, reason: `receipt CID ${receipt} but its body hashes to ${cid}` });
        else if (ran !== invocation)
          findings.push({ ...at, reason: `ran ${ran} is not the invocation ${invocation}` });
        else if (event.sig === undefined || event.iss === undefined) unsigned++;
        else if (!ed25519Verify(event.iss, event.receipt.bytes, event.sig))
          findings.push({
            ...at,
            reason: `signature of ${event.iss} over receipt ${receipt} does not verify`,
          });
      } catch (err) {
        findings.push({ ...where, instruction: null, reason: (err as Error).message });
      }
    }
  }
  return { checked, unsigned, findings };
}
