// On-disk record framing of the file log. All integers little-endian.
//
//   0  u32  body length (bytes after this 8-byte frame header)
//   4  u32  CRC-32 of the body (zlib's, hardware-assisted in Node)
//   8  body:
//        u32 offset low 32 bits, u32 offset high 21 bits (a safe integer)
//        f64 timestamp (ms since the epoch)
//        u32 key length, u32 headers length
//        key (UTF-8), headers (JSON object, UTF-8; empty when there are none), value
//
// The offset inside the body lets a reader check density (each record's offset is the previous
// one plus one), so a frame that happens to carry a valid checksum at a wrong place is caught.
import { crc32 } from 'node:zlib';
import type { AppendRecord } from '../log.ts';

export const FRAME_HEADER_BYTES = 8;
export const BODY_FIXED_BYTES = 24;
export const RECORD_OVERHEAD_BYTES = FRAME_HEADER_BYTES + BODY_FIXED_BYTES;
/** Largest body accepted when reading; anything larger is framing damage. */
export const MAX_BODY_BYTES = 256 * 1024 * 1024;

const EMPTY_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/** Byte sizes of one record's parts, computed once before encoding. */
export interface SizedRecord {
  record: AppendRecord;
  keyBytes: number;
  headers: string;
  headersBytes: number;
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
    total: RECORD_OVERHEAD_BYTES + keyBytes + headersBytes + record.value.byteLength,
  };
}

/** Encodes `sized` at `position` of `buf`, returns the position after it. */
export function encodeRecord(
  buf: Buffer,
  position: number,
  sized: SizedRecord,
  offset: number,
  timestamp: number,
): number {
  const body = position + FRAME_HEADER_BYTES;
  const bodyLength = sized.total - FRAME_HEADER_BYTES;
  buf.writeUInt32LE(bodyLength, position);
  buf.writeUInt32LE(offset >>> 0, body);
  buf.writeUInt32LE(Math.floor(offset / 0x1_0000_0000), body + 4);
  buf.writeDoubleLE(timestamp, body + 8);
  buf.writeUInt32LE(sized.keyBytes, body + 16);
  buf.writeUInt32LE(sized.headersBytes, body + 20);
  let p = body + BODY_FIXED_BYTES;
  p += buf.write(sized.record.key, p, 'utf8');
  if (sized.headersBytes > 0) p += buf.write(sized.headers, p, 'utf8');
  const value = sized.record.value;
  buf.set(value, p);
  p += value.byteLength;
  buf.writeUInt32LE(crc32(buf.subarray(body, p)), position + 4);
  return p;
}

/** A record decoded from a buffer (the stream name is added by the reader). */
export interface DecodedRecord {
  offset: number;
  timestamp: number;
  key: string;
  headers: Record<string, string>;
  value: Uint8Array;
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
    return { kind: 'bad', reason: `invalid record length ${bodyLength}` };
  }
  const end = position + FRAME_HEADER_BYTES + bodyLength;
  if (end > limit) return { kind: 'short' };
  const body = position + FRAME_HEADER_BYTES;
  const keyBytes = buf.readUInt32LE(body + 16);
  const headersBytes = buf.readUInt32LE(body + 20);
  if (BODY_FIXED_BYTES + keyBytes + headersBytes > bodyLength) {
    return { kind: 'bad', reason: 'invalid key or headers length' };
  }
  if (crc32(buf.subarray(body, end)) !== buf.readUInt32LE(position + 4)) {
    return { kind: 'bad', reason: 'checksum mismatch' };
  }
  return { kind: 'ok', end };
}

export function frameOffset(buf: Buffer, position: number): number {
  const body = position + FRAME_HEADER_BYTES;
  return buf.readUInt32LE(body) + buf.readUInt32LE(body + 4) * 0x1_0000_0000;
}

/** Decodes a frame already accepted by {@link checkFrame}. The value is a view into `buf`. */
export function decodeFrame(buf: Buffer, position: number, end: number): DecodedRecord {
  const body = position + FRAME_HEADER_BYTES;
  const keyBytes = buf.readUInt32LE(body + 16);
  const headersBytes = buf.readUInt32LE(body + 20);
  const keyStart = body + BODY_FIXED_BYTES;
  const headersStart = keyStart + keyBytes;
  const valueStart = headersStart + headersBytes;
  return {
    offset: frameOffset(buf, position),
    timestamp: buf.readDoubleLE(body + 8),
    key: buf.toString('utf8', keyStart, headersStart),
    headers:
      headersBytes === 0
        ? { ...EMPTY_HEADERS }
        : (JSON.parse(buf.toString('utf8', headersStart, valueStart)) as Record<string, string>),
    value: new Uint8Array(buf.buffer, buf.byteOffset + valueStart, end - valueStart),
  };
}
