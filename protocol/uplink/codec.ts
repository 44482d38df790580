/**
 * Uplink message codec. One WebSocket binary message is one uplink message:
 *
 *   | uint8 channel | uint8 kind | body |
 *
 * JSON kinds: body = UTF-8 JSON object, validated by ajv (unknown fields kept).
 * BATCH (DATA 1), all integers big-endian:
 *   | uint64 firstSeq | uint64 lastSeq | uint32 records | uint32 samples |
 *   | uint8 flags | [uint32 gapCount | gapCount × (uint64 first | uint64 last)] | payload |
 *   flags bit 0 = payload is raw deflate, bit 1 = replay, bit 2 = gap list
 *   present; bits 3-7 must be 0. Without a gap list every number of
 *   firstSeq..lastSeq has a record; with one, the listed inclusive ranges
 *   (strictly inside, ascending, not touching) are not in this batch. So
 *   records = lastSeq - firstSeq + 1 - (numbers in gaps), so every record's
 *   sequence number is known and the upstream can de-duplicate batches whose
 *   ranges overlap only partly.
 * BATCH_ACK (DATA 2): | uint64 firstSeq | uint64 lastSeq | uint8 status |, exactly 19 bytes.
 * FIRMWARE_CHUNK (FIRMWARE 3): | uint32 id | uint64 offset | data |, data 0..FIRMWARE_MAX_CHUNK_BYTES
 *   (empty only past the end of the file).
 *
 * Decoding checks the size first, then every length against what is left, so
 * truncated, oversized or garbage input yields an UplinkError, never another
 * exception. Encoding validates too, so a bad body fails at the sender (a
 * NaN in a status would otherwise get the whole uplink closed with 4400).
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { PacketError } from '../errors.js';
import { DEFAULT_LIMITS } from '../limits.js';
import { defaultParser } from '../parser.js';
import { UplinkError, UplinkErrorCode } from './errors.js';
import {
  UPLINK_CHANNELS,
  UPLINK_KINDS,
  uplinkTypeAt,
  type UplinkKindInfo,
  type UplinkMessageType,
  type UplinkPeer,
} from './kinds.js';
import {
  BatchAckStatus,
  type SeqRange,
  type UplinkBatch,
  type UplinkBatchAck,
  type UplinkFirmwareChunk,
  type UplinkMessage,
} from './messages.js';
import { FIRMWARE_MAX_CHUNK_BYTES } from '../firmware.js';
import { toBuffer } from './record.js';
import { nestedPackets, uplinkSchemas, type JsonType } from './schemas.js';

/** Default largest message a receiver accepts (16 MiB); set the WebSocket's maxPayload to the same. */
export const UPLINK_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Bytes before a BATCH payload when it has no gap list. */
const UPLINK_BATCH_HEADER_BYTES = 27;

/** Size of a BATCH_ACK message. */
const UPLINK_BATCH_ACK_BYTES = 19;

/** Bytes before a FIRMWARE_CHUNK's data. */
const FIRMWARE_CHUNK_HEADER_BYTES = 14;

/** BATCH flag bits. */
const BatchFlag = { COMPRESSED: 1, REPLAY: 2, GAPS: 4 } as const;

const KNOWN_FLAGS = BatchFlag.COMPRESSED | BatchFlag.REPLAY | BatchFlag.GAPS;
const TWO_32 = 0x1_0000_0000;
const MAX_HI = 0x1f_ffff;

/** Options of decodeUplinkMessage. */
export interface UplinkDecodeOptions {
  /** Largest accepted message in bytes (default UPLINK_MAX_MESSAGE_BYTES). */
  maxMessageBytes?: number;
  /** The peer the message came from; a kind that peer may not send is OWL_ERR_UPLINK_WRONG_DIRECTION. */
  from?: UplinkPeer;
}

let validators: Map<JsonType, ValidateFunction> | undefined;

/** Schemas are compiled on first use, once. */
function validatorFor(type: JsonType): ValidateFunction {
  if (validators === undefined) {
    const ajv = new Ajv({ strictNumbers: true, strictTypes: false, allErrors: false });
    validators = new Map();
    for (const [t, schema] of uplinkSchemas(DEFAULT_LIMITS)) validators.set(t, ajv.compile(schema));
  }
  return validators.get(type) as ValidateFunction;
}

/** Encode a message as one WebSocket binary message. Throws UplinkError when the body is invalid. */
export function encodeUplinkMessage(msg: UplinkMessage): Buffer {
  const kinds: Record<string, UplinkKindInfo> = UPLINK_KINDS;
  const info = Object.hasOwn(kinds, msg.type) ? kinds[msg.type] : undefined;
  if (info === undefined) {
    throw new UplinkError(UplinkErrorCode.UNKNOWN_KIND, `unknown message type ${msg.type}`);
  }
  if (msg.type === 'BATCH') return encodeBatch(msg.body);
  if (msg.type === 'BATCH_ACK') return encodeBatchAck(msg.body);
  if (msg.type === 'FIRMWARE_CHUNK') return encodeFirmwareChunk(msg.body);
  validateJson(msg.type, msg.body);
  const json = JSON.stringify(msg.body);
  const out = Buffer.allocUnsafe(2 + Buffer.byteLength(json));
  out[0] = info.channel;
  out[1] = info.kind;
  out.write(json, 2, 'utf8');
  return out;
}

/** Decode one WebSocket binary message. Throws UplinkError (code OWL_ERR_UPLINK_*) on any bad input. */
export function decodeUplinkMessage(data: Uint8Array, options: UplinkDecodeOptions = {}): UplinkMessage {
  const buf = toBuffer(data);
  const max = options.maxMessageBytes ?? UPLINK_MAX_MESSAGE_BYTES;
  if (buf.length > max) {
    throw new UplinkError(UplinkErrorCode.TOO_LARGE, `message of ${buf.length} bytes exceeds limit ${max}`);
  }
  if (buf.length < 2) {
    throw new UplinkError(UplinkErrorCode.TRUNCATED, `message of ${buf.length} bytes has no header`);
  }
  const channel = buf[0] as number;
  const kind = buf[1] as number;
  if (channel >= UPLINK_CHANNELS) {
    throw new UplinkError(UplinkErrorCode.UNKNOWN_CHANNEL, `unknown channel ${channel}`);
  }
  const type = uplinkTypeAt(channel, kind);
  if (type === undefined) {
    throw new UplinkError(UplinkErrorCode.UNKNOWN_KIND, `unknown kind ${kind} on channel ${channel}`);
  }
  const from: string = UPLINK_KINDS[type].from;
  if (options.from !== undefined && from !== 'both' && from !== options.from) {
    throw new UplinkError(UplinkErrorCode.WRONG_DIRECTION, `${type} may not be sent by the ${options.from}`);
  }
  if (type === 'BATCH') return { type, body: decodeBatch(buf) };
  if (type === 'BATCH_ACK') return { type, body: decodeBatchAck(buf) };
  if (type === 'FIRMWARE_CHUNK') return { type, body: decodeFirmwareChunk(buf) };
  if (buf.length === 2) throw new UplinkError(UplinkErrorCode.BAD_JSON, `${type} has an empty body`);
  let body: unknown;
  try {
    body = JSON.parse(buf.toString('utf8', 2));
  } catch (err) {
    throw new UplinkError(UplinkErrorCode.BAD_JSON, `${type} body is not JSON`, undefined, { cause: err });
  }
  if (!withinDepth(body, DEFAULT_LIMITS.maxDepth)) {
    throw new UplinkError(
      UplinkErrorCode.TOO_DEEP,
      `${type} body nests deeper than ${DEFAULT_LIMITS.maxDepth}`,
    );
  }
  validateJson(type, body);
  return { type, body } as UplinkMessage;
}

/** Schema check, then the nested v3 bodies through the packet parser. Throws UplinkError. */
function validateJson(type: JsonType, body: unknown): void {
  const validate = validatorFor(type);
  if (!validate(body)) throw toFieldError(type, validate.errors?.[0]);
  for (const nested of nestedPackets(type, body as Record<string, unknown>)) {
    try {
      defaultParser.validateBody(nested.type, nested.value);
    } catch (err) {
      if (!(err instanceof PacketError)) throw err;
      const field = nested.field + (err.field ?? '');
      throw new UplinkError(UplinkErrorCode.BAD_FIELD, `${type} ${field}: ${err.message}`, field, {
        cause: err,
      });
    }
  }
}

/**
 * Check that a batch's numbers agree with each other; throws
 * OWL_ERR_UPLINK_BAD_BATCH. Shared by the encoder, the decoder and buildBatch.
 */
export function checkBatchShape(
  firstSeq: number,
  lastSeq: number,
  records: number,
  gaps: readonly SeqRange[],
): void {
  if (!isSafeUint(firstSeq) || !isSafeUint(lastSeq) || firstSeq > lastSeq) {
    throw new UplinkError(UplinkErrorCode.BAD_BATCH, `bad batch range ${firstSeq}..${lastSeq}`);
  }
  if (!Number.isInteger(records) || records < 1 || records > 0xffff_ffff) {
    throw new UplinkError(UplinkErrorCode.BAD_BATCH, `batch record count ${records} is out of range`);
  }
  let missing = 0;
  let previous = firstSeq;
  for (const [first, last] of gaps) {
    // A gap starts past the previous gap's end + 1 (gaps never touch), ends before lastSeq.
    if (!isSafeUint(first) || !isSafeUint(last) || first > last || first <= previous || last >= lastSeq) {
      throw new UplinkError(
        UplinkErrorCode.BAD_BATCH,
        `bad gap ${first}..${last} in batch ${firstSeq}..${lastSeq}`,
      );
    }
    missing += last - first + 1;
    previous = last + 1;
  }
  if (lastSeq - firstSeq + 1 - missing !== records) {
    throw new UplinkError(
      UplinkErrorCode.BAD_BATCH,
      `batch ${firstSeq}..${lastSeq} with ${missing} missing numbers cannot hold ${records} records`,
    );
  }
}

function encodeBatch(batch: UplinkBatch): Buffer {
  const { firstSeq, lastSeq, records, samples, gaps, payload } = batch;
  checkBatchShape(firstSeq, lastSeq, records, gaps);
  if (!Number.isInteger(samples) || samples < 0 || samples > 0xffff_ffff) {
    throw new UplinkError(UplinkErrorCode.BAD_BATCH, `batch sample count ${samples} is out of range`);
  }
  const gapBytes = gaps.length === 0 ? 0 : 4 + 16 * gaps.length;
  const out = Buffer.allocUnsafe(UPLINK_BATCH_HEADER_BYTES + gapBytes + payload.length);
  out[0] = UPLINK_KINDS.BATCH.channel;
  out[1] = UPLINK_KINDS.BATCH.kind;
  writeU64(out, firstSeq, 2);
  writeU64(out, lastSeq, 10);
  out.writeUInt32BE(records, 18);
  out.writeUInt32BE(samples, 22);
  out[26] =
    (batch.compressed ? BatchFlag.COMPRESSED : 0) |
    (batch.replay ? BatchFlag.REPLAY : 0) |
    (gaps.length > 0 ? BatchFlag.GAPS : 0);
  let at = UPLINK_BATCH_HEADER_BYTES;
  if (gaps.length > 0) {
    out.writeUInt32BE(gaps.length, at);
    at += 4;
    for (const [first, last] of gaps) {
      writeU64(out, first, at);
      writeU64(out, last, at + 8);
      at += 16;
    }
  }
  out.set(payload, at);
  return out;
}

function decodeBatch(buf: Buffer): UplinkBatch {
  if (buf.length < UPLINK_BATCH_HEADER_BYTES) {
    throw new UplinkError(
      UplinkErrorCode.TRUNCATED,
      `BATCH of ${buf.length} bytes is shorter than its header`,
    );
  }
  const firstSeq = readU64(buf, 2, '/firstSeq');
  const lastSeq = readU64(buf, 10, '/lastSeq');
  const records = buf.readUInt32BE(18);
  const samples = buf.readUInt32BE(22);
  const flags = buf[26] as number;
  if ((flags & ~KNOWN_FLAGS) !== 0) {
    throw new UplinkError(UplinkErrorCode.BAD_BATCH, `BATCH flags 0x${flags.toString(16)} has unknown bits`);
  }
  let at = UPLINK_BATCH_HEADER_BYTES;
  const gaps: SeqRange[] = [];
  if ((flags & BatchFlag.GAPS) !== 0) {
    if (buf.length < at + 4) throw new UplinkError(UplinkErrorCode.TRUNCATED, 'BATCH gap count is cut');
    const count = buf.readUInt32BE(at);
    at += 4;
    if (count === 0) {
      throw new UplinkError(UplinkErrorCode.BAD_BATCH, 'BATCH gap flag set with an empty gap list');
    }
    if (buf.length - at < count * 16) {
      throw new UplinkError(UplinkErrorCode.TRUNCATED, 'BATCH gap list is cut');
    }
    for (let i = 0; i < count; i++, at += 16) {
      gaps.push([readU64(buf, at, `/gaps/${i}/0`), readU64(buf, at + 8, `/gaps/${i}/1`)]);
    }
  }
  checkBatchShape(firstSeq, lastSeq, records, gaps);
  if (buf.length === at) throw new UplinkError(UplinkErrorCode.TRUNCATED, 'BATCH has an empty payload');
  return {
    firstSeq,
    lastSeq,
    records,
    samples,
    compressed: (flags & BatchFlag.COMPRESSED) !== 0,
    replay: (flags & BatchFlag.REPLAY) !== 0,
    gaps,
    payload: buf.subarray(at),
  };
}

function encodeBatchAck(ack: UplinkBatchAck): Buffer {
  const { firstSeq, lastSeq, status } = ack;
  if (!isSafeUint(firstSeq) || !isSafeUint(lastSeq) || firstSeq > lastSeq) {
    throw new UplinkError(UplinkErrorCode.BAD_FIELD, `bad BATCH_ACK range ${firstSeq}..${lastSeq}`);
  }
  if (!isAckStatus(status)) {
    throw new UplinkError(UplinkErrorCode.BAD_FIELD, `bad BATCH_ACK status ${status}`, '/status');
  }
  const out = Buffer.allocUnsafe(UPLINK_BATCH_ACK_BYTES);
  out[0] = UPLINK_KINDS.BATCH_ACK.channel;
  out[1] = UPLINK_KINDS.BATCH_ACK.kind;
  writeU64(out, firstSeq, 2);
  writeU64(out, lastSeq, 10);
  out[18] = status;
  return out;
}

function decodeBatchAck(buf: Buffer): UplinkBatchAck {
  if (buf.length < UPLINK_BATCH_ACK_BYTES) {
    throw new UplinkError(UplinkErrorCode.TRUNCATED, `BATCH_ACK of ${buf.length} bytes, expected 19`);
  }
  if (buf.length > UPLINK_BATCH_ACK_BYTES) {
    throw new UplinkError(UplinkErrorCode.TRAILING_BYTES, `BATCH_ACK of ${buf.length} bytes, expected 19`);
  }
  const firstSeq = readU64(buf, 2, '/firstSeq');
  const lastSeq = readU64(buf, 10, '/lastSeq');
  if (firstSeq > lastSeq) {
    throw new UplinkError(UplinkErrorCode.BAD_FIELD, `bad BATCH_ACK range ${firstSeq}..${lastSeq}`);
  }
  const status = buf[18] as number;
  if (!isAckStatus(status)) {
    throw new UplinkError(UplinkErrorCode.BAD_FIELD, `bad BATCH_ACK status ${status}`, '/status');
  }
  return { firstSeq, lastSeq, status };
}

function encodeFirmwareChunk(chunk: UplinkFirmwareChunk): Buffer {
  const { id, offset, data } = chunk;
  if (!Number.isInteger(id) || id < 0 || id >= TWO_32) {
    throw new UplinkError(UplinkErrorCode.BAD_FIELD, `bad FIRMWARE_CHUNK id ${id}`, '/id');
  }
  if (!isSafeUint(offset))
    throw new UplinkError(UplinkErrorCode.BAD_FIELD, `bad FIRMWARE_CHUNK offset ${offset}`, '/offset');
  if (data.length > FIRMWARE_MAX_CHUNK_BYTES) {
    throw new UplinkError(UplinkErrorCode.TOO_LARGE, `FIRMWARE_CHUNK of ${data.length} bytes`, '/data');
  }
  const out = Buffer.allocUnsafe(FIRMWARE_CHUNK_HEADER_BYTES + data.length);
  out[0] = UPLINK_KINDS.FIRMWARE_CHUNK.channel;
  out[1] = UPLINK_KINDS.FIRMWARE_CHUNK.kind;
  out.writeUInt32BE(id, 2);
  writeU64(out, offset, 6);
  out.set(data, FIRMWARE_CHUNK_HEADER_BYTES);
  return out;
}

function decodeFirmwareChunk(buf: Buffer): UplinkFirmwareChunk {
  if (buf.length < FIRMWARE_CHUNK_HEADER_BYTES) {
    throw new UplinkError(
      UplinkErrorCode.TRUNCATED,
      `FIRMWARE_CHUNK of ${buf.length} bytes is shorter than its header`,
    );
  }
  if (buf.length - FIRMWARE_CHUNK_HEADER_BYTES > FIRMWARE_MAX_CHUNK_BYTES) {
    throw new UplinkError(UplinkErrorCode.TOO_LARGE, `FIRMWARE_CHUNK of ${buf.length} bytes`, '/data');
  }
  return {
    id: buf.readUInt32BE(2),
    offset: readU64(buf, 6, '/offset'),
    data: buf.subarray(FIRMWARE_CHUNK_HEADER_BYTES),
  };
}

function isAckStatus(status: number): status is BatchAckStatus {
  return (
    status === BatchAckStatus.STORED ||
    status === BatchAckStatus.DUPLICATE ||
    status === BatchAckStatus.REJECTED
  );
}

function isSafeUint(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function writeU64(out: Buffer, value: number, at: number): void {
  out.writeUInt32BE(Math.floor(value / TWO_32), at);
  out.writeUInt32BE(value % TWO_32, at + 4);
}

/** A uint64 that must fit a safe integer. */
function readU64(buf: Buffer, at: number, field: string): number {
  const hi = buf.readUInt32BE(at);
  if (hi > MAX_HI) throw new UplinkError(UplinkErrorCode.BAD_FIELD, `${field} is past 2^53-1`, field);
  return hi * TWO_32 + buf.readUInt32BE(at + 4);
}

/** True when `value` nests objects/arrays at most `max` deep; stops at the limit. */
function withinDepth(value: unknown, max: number): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (max === 0) return false;
  for (const v of Array.isArray(value) ? value : Object.values(value)) {
    if (typeof v === 'object' && v !== null && !withinDepth(v, max - 1)) return false;
  }
  return true;
}

function toFieldError(type: UplinkMessageType, error: ErrorObject | undefined): UplinkError {
  if (error === undefined) return new UplinkError(UplinkErrorCode.BAD_FIELD, `${type} body is invalid`);
  let field = error.instancePath;
  if (error.keyword === 'required') {
    field = `${field}/${(error.params as { missingProperty: string }).missingProperty}`;
  }
  return new UplinkError(
    UplinkErrorCode.BAD_FIELD,
    `${type} ${field === '' ? 'body' : field}: ${error.message ?? 'is invalid'}`,
    field === '' ? undefined : field,
  );
}
