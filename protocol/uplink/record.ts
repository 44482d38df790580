/**
 * Uplink records: one agent packet as the relay received it.
 *
 *   | uint32 BE len | uint64 BE receivedAtMs | uint8 type | uint8 srcLen | src |
 *   | uint8 uuidLen | uuid | body |
 *
 * `len` counts every byte after itself (so a record is len + 4 bytes);
 * `type` is the agent packet type (SERIESDATA 4, HOSTHB 13, SERIESBATCH 15,
 * ...); `src` is the agent's source address (utf8, empty for records the
 * relay makes itself, e.g. SNMP results); `uuid` the agent's UUID when known
 * from its HELLO, else empty; `body` the packet's JSON bytes exactly as
 * received. The relay encodes a record once, on receipt, and stores those
 * bytes in its spool; a batch payload is a plain concatenation of them.
 * A reader checks every length against what is left before slicing, so a
 * corrupt length cannot make it read past the payload.
 */
import { DEFAULT_MAX_FRAME_BYTES } from '../frame.js';
import { UplinkError, UplinkErrorCode } from './errors.js';

/** One record. `body` is a view into the decoded payload: copy it to keep it past the payload's life. */
export interface UplinkRecord {
  /** Relay clock (Unix ms) when the packet arrived. */
  receivedAtMs: number;
  /** Agent packet type. */
  type: number;
  /** Agent source address (`ip:port`), empty for relay-made records. */
  src: string;
  /** Agent UUID from its HELLO, or empty. */
  uuid: string;
  /** The packet body, byte for byte. */
  body: Buffer;
}

/** A record of an opened batch, with its sequence number. */
export interface UplinkSequencedRecord extends UplinkRecord {
  seq: number;
}

/** Bytes of a record with empty src, uuid and body. */
export const UPLINK_RECORD_OVERHEAD = 4 + 8 + 1 + 1 + 1;

/** Largest record body: the agent-side frame limit (1 MiB). */
export const UPLINK_MAX_RECORD_BODY_BYTES = DEFAULT_MAX_FRAME_BYTES;

/** Largest encoded record, `len` prefix included. */
export const UPLINK_MAX_RECORD_BYTES = UPLINK_RECORD_OVERHEAD + 255 + 255 + UPLINK_MAX_RECORD_BODY_BYTES;

const TWO_32 = 0x1_0000_0000;

/** Encode one record (done once, when the agent packet arrives). Throws OWL_ERR_UPLINK_BAD_RECORD on bad fields. */
export function encodeRecord(record: UplinkRecord): Buffer {
  const { receivedAtMs, type, src, uuid, body } = record;
  if (!Number.isSafeInteger(receivedAtMs) || receivedAtMs < 0) {
    throw new UplinkError(UplinkErrorCode.BAD_RECORD, `receivedAtMs ${receivedAtMs} is not a safe uint`);
  }
  if (!Number.isInteger(type) || type < 0 || type > 255) {
    throw new UplinkError(UplinkErrorCode.BAD_RECORD, `record type ${type} is not a byte`);
  }
  const srcLen = Buffer.byteLength(src);
  const uuidLen = Buffer.byteLength(uuid);
  if (srcLen > 255) throw new UplinkError(UplinkErrorCode.BAD_RECORD, `src is ${srcLen} bytes, max 255`);
  if (uuidLen > 255) throw new UplinkError(UplinkErrorCode.BAD_RECORD, `uuid is ${uuidLen} bytes, max 255`);
  if (body.length > UPLINK_MAX_RECORD_BODY_BYTES) {
    throw new UplinkError(UplinkErrorCode.BAD_RECORD, `record body of ${body.length} bytes is too large`);
  }
  const total = UPLINK_RECORD_OVERHEAD + srcLen + uuidLen + body.length;
  const out = Buffer.allocUnsafe(total);
  out.writeUInt32BE(total - 4, 0);
  out.writeUInt32BE(Math.floor(receivedAtMs / TWO_32), 4);
  out.writeUInt32BE(receivedAtMs % TWO_32, 8);
  out[12] = type;
  out[13] = srcLen;
  let at = 14 + out.write(src, 14, 'utf8');
  out[at++] = uuidLen;
  at += out.write(uuid, at, 'utf8');
  out.set(body, at);
  return out;
}

/**
 * Byte length of the record starting at `offset` of `buf` (len + 4), after
 * checking that its length prefix fits what is left and its limits; throws
 * OWL_ERR_UPLINK_TRUNCATED or OWL_ERR_UPLINK_BAD_RECORD.
 */
export function recordLength(buf: Uint8Array, offset = 0): number {
  const left = buf.length - offset;
  if (left < 4) throw new UplinkError(UplinkErrorCode.TRUNCATED, `record header cut at byte ${offset}`);
  const len = toBuffer(buf).readUInt32BE(offset);
  if (len + 4 > UPLINK_MAX_RECORD_BYTES || len < UPLINK_RECORD_OVERHEAD - 4) {
    throw new UplinkError(
      UplinkErrorCode.BAD_RECORD,
      `record length ${len} at byte ${offset} is out of range`,
    );
  }
  if (len + 4 > left) {
    throw new UplinkError(UplinkErrorCode.TRUNCATED, `record of ${len + 4} bytes at byte ${offset} is cut`);
  }
  return len + 4;
}

/**
 * Decode a concatenation of records. Bodies are views into `payload`.
 * Throws OWL_ERR_UPLINK_TRUNCATED / OWL_ERR_UPLINK_BAD_RECORD, or
 * OWL_ERR_UPLINK_BAD_BATCH when there are more than `maxRecords`.
 */
export function decodeRecords(payload: Uint8Array, maxRecords = Infinity): UplinkRecord[] {
  const buf = toBuffer(payload);
  const out: UplinkRecord[] = [];
  let offset = 0;
  while (offset < buf.length) {
    if (out.length >= maxRecords) {
      throw new UplinkError(UplinkErrorCode.BAD_BATCH, `payload holds more than ${maxRecords} records`);
    }
    const size = recordLength(buf, offset);
    const end = offset + size;
    const hi = buf.readUInt32BE(offset + 4);
    if (hi > 0x1f_ffff) {
      throw new UplinkError(UplinkErrorCode.BAD_RECORD, `receivedAtMs at byte ${offset} is past 2^53`);
    }
    const receivedAtMs = hi * TWO_32 + buf.readUInt32BE(offset + 8);
    const type = buf[offset + 12] as number;
    const srcLen = buf[offset + 13] as number;
    let at = offset + 14;
    if (at + srcLen + 1 > end) {
      throw new UplinkError(UplinkErrorCode.BAD_RECORD, `record src overruns at ${offset}`);
    }
    const src = buf.toString('utf8', at, at + srcLen);
    at += srcLen;
    const uuidLen = buf[at++] as number;
    if (at + uuidLen > end) {
      throw new UplinkError(UplinkErrorCode.BAD_RECORD, `record uuid overruns at ${offset}`);
    }
    const uuid = buf.toString('utf8', at, at + uuidLen);
    at += uuidLen;
    out.push({ receivedAtMs, type, src, uuid, body: buf.subarray(at, end) });
    offset = end;
  }
  return out;
}

/** A Buffer view of `bytes` without copying. */
export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
