// On-disk framing of the file log: records are stored in batches (one batch per partition per
// append call), each batch framed and checksummed once. All integers little-endian.
//
//   0  u32  body length (bytes after this 8-byte frame header)
//   4  u32  CRC-32 of the body (zlib's, hardware-assisted in Node)
//   8  body:
//        u32 base offset low 32 bits, u32 base offset high 21 bits (a safe integer)
//        f64 timestamp (ms since the epoch), shared by the batch
//        u32 record count (≥ 1)
//        count × { u32 key length, u32 headers length, u32 value length,
//                  key (UTF-8), headers (JSON object, UTF-8; empty when none), value }
//
// One checksum per batch rather than per record: a checksum call costs more than hashing a
// 256-byte record, and a batch is acknowledged as a whole anyway, so a torn write always tears
// a whole batch. The base offset inside the body lets a reader check density (each batch starts
// where the previous one ended), so a frame at a wrong place is caught too.
import { crc32 } from 'node:zlib';
import type { AppendRecord } from '../log.ts';

export const FRAME_HEADER_BYTES = 8;
export const BODY_FIXED_BYTES = 20;
export const RECORD_HEADER_BYTES = 12;
/** Largest body accepted when reading; anything larger is framing damage. */
export const MAX_BODY_BYTES = 256 * 1024 * 1024;

/** Byte sizes of one record's parts, computed once before encoding. */
export interface SizedRecord {
  record: AppendRecord;
  keyBytes: number;
  headers: string;
  headersBytes: number;
  /** Bytes of the record inside a batch body. */
  total: number;
}

export function sizeRecord(record: AppendRecord): SizedRecord {
  const keyBytes = Buffer.byteLength(record.key);
  let headers = '';
  if (record.headers !== undefined) {
    for (const _ in record.headers) {
      headers = JSON.stringify(record.headers);
      break;
    }
  }
  const headersBytes = headers === '' ? 0 : Buffer.byteLength(headers);
  return {
    record,
    keyBytes,
    headers,
    headersBytes,
    total: RECORD_HEADER_BYTES + keyBytes + headersBytes + record.value.byteLength,
  };
}

/** Bytes of a batch frame holding records of `recordBytes` bytes in total. */
export function batchBytes(recordBytes: number): number {
  return FRAME_HEADER_BYTES + BODY_FIXED_BYTES + recordBytes;
}

/** Writes the batch header at `position`; records follow at `position + FRAME_HEADER_BYTES + BODY_FIXED_BYTES`. */
export function beginBatch(
  buf: Buffer,
  position: number,
  baseOffset: number,
  timestamp: number,
  count: number,
): number {
  const body = position + FRAME_HEADER_BYTES;
  buf.writeUInt32LE(baseOffset >>> 0, body);
  buf.writeUInt32LE(Math.floor(baseOffset / 0x1_0000_0000), body + 4);
  buf.writeDoubleLE(timestamp, body + 8);
  buf.writeUInt32LE(count, body + 16);
  return body + BODY_FIXED_BYTES;
}

/** Encodes one record at `position`, returns the position after it. */
export function encodeRecord(buf: Buffer, position: number, sized: SizedRecord): number {
  const value = sized.record.value;
  buf.writeUInt32LE(sized.keyBytes, position);
  buf.writeUInt32LE(sized.headersBytes, position + 4);
  buf.writeUInt32LE(value.byteLength, position + 8);
  let p = position + RECORD_HEADER_BYTES;
  p += buf.write(
    sized.record.key,
    p,
    sized.keyBytes === sized.record.key.length ? 'latin1' : 'utf8',
  );
  if (sized.headersBytes > 0) p += buf.write(sized.headers, p, 'utf8');
  buf.set(value, p);
  return p + value.byteLength;
}

/** Completes the batch frame that starts at `position` and ends at `end`: length and checksum. */
export function endBatch(buf: Buffer, position: number, end: number): void {
  const body = position + FRAME_HEADER_BYTES;
  buf.writeUInt32LE(end - body, position);
  buf.writeUInt32LE(crc32(buf.subarray(body, end)), position + 4);
}

/** Outcome of looking at the bytes at one position. */
export type FrameCheck =
  | { kind: 'ok'; end: number }
  | { kind: 'short' } // not enough bytes for the frame (maybe still being written)
  | { kind: 'bad'; reason: string }; // framing or checksum damage

/** Checks the frame at `position` (framing and checksum), without decoding it. */
export function checkFrame(buf: Buffer, position: number, limit: number): FrameCheck {
  if (limit - position < FRAME_HEADER_BYTES) return { kind: 'short' };
  const bodyLength = buf.readUInt32LE(position);
  if (bodyLength < BODY_FIXED_BYTES || bodyLength > MAX_BODY_BYTES) {
    return { kind: 'bad', reason: `invalid batch length ${bodyLength}` };
  }
  const end = position + FRAME_HEADER_BYTES + bodyLength;
  if (end > limit) return { kind: 'short' };
  const body = position + FRAME_HEADER_BYTES;
  if (crc32(buf.subarray(body, end)) !== buf.readUInt32LE(position + 4)) {
    return { kind: 'bad', reason: 'checksum mismatch' };
  }
  if (buf.readUInt32LE(body + 16) === 0) return { kind: 'bad', reason: 'empty batch' };
  return { kind: 'ok', end };
}

/** Base offset of the batch at `position` (meaningful once the frame checked out). */
export function frameOffset(buf: Buffer, position: number): number {
  const body = position + FRAME_HEADER_BYTES;
  return buf.readUInt32LE(body) + buf.readUInt32LE(body + 4) * 0x1_0000_0000;
}

/** Number of records of the batch at `position`. */
export function frameCount(buf: Buffer, position: number): number {
  return buf.readUInt32LE(position + FRAME_HEADER_BYTES + 16);
}

export function frameTimestamp(buf: Buffer, position: number): number {
  return buf.readDoubleLE(position + FRAME_HEADER_BYTES + 8);
}

/** Position of the first record of the batch frame at `position`. */
export function firstRecord(position: number): number {
  return position + FRAME_HEADER_BYTES + BODY_FIXED_BYTES;
}
