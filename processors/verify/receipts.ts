/**
 * The cheap check of a verify job: every receipt's CID is re-derived from its body, and its
 * `ran` must be the invocation it claims, and a signed receipt's signature must verify against
 * its issuer's DID. No execution.
 *
 * @module
 */
import { decodeEvent } from '../../schemas/events.ts';
import { encodeReceipt } from '../../schemas/model.ts';
import type { Log, LogRecord } from '../../streams/log.ts';
import { ed25519Verify } from '../auth/ed25519.ts';

/** A located finding of a verify job. */
export interface Finding {
  stream: string;
  partition: number;
  offset: number;
  /** The instruction, when the record could be decoded. */
  instruction: string | null;
  reason: string;
}

/** Re-hashes (and checks the signatures of) the receipts of `streams` that `filter` keeps. */
export async function checkReceipts(
  log: Log,
  streams: readonly string[],
  filter: (record: LogRecord) => boolean,
  options: { signal?: AbortSignal; onRecord?: () => void } = {},
): Promise<{ checked: number; unsigned: number; findings: Finding[] }> {
  let checked = 0;
  let unsigned = 0;
  const findings: Finding[] = [];
  for (const stream of streams) {
    for await (const record of log.read(stream, { signal: options.signal })) {
      options.onRecord?.();
      if (!filter(record)) continue;
      const where = { stream, partition: record.partition, offset: record.offset };
      try {
        const event = decodeEvent(record.value);
        if (event.type !== 'receipt') continue;
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
