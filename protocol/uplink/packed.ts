/**
 * PACKED records: many agent packets, from any of the relay's connections,
 * as one record.
 *
 * A record of type UPLINK_PACKED_TYPE (255, never an agent packet type) has
 * an empty src and uuid at record level and the body
 *
 *   | uint8 encoding | payload |
 *
 * where `encoding` is 0 (payload as is), 1 (payload raw-deflated, RFC
 * 1951) or 2 (payload as one zstd frame stating its content size, RFC 8878;
 * what relays write), and the payload is a sequence of sections, one per
 * run of packets from one connection:
 *
 *   | uint8 srcLen | src | uint8 uuidLen | uuid | uint32 BE framesLen | frames |
 *
 * `src` and `uuid` mean what they mean in a plain record (the agent's
 * address, its UUID from HELLO or empty); `frames` are its packets in the
 * agent wire format (`| uint32 BE N | uint8 type | N-1 bytes JSON |`), in
 * arrival order.
 *
 * Why: a v3 agent sends one sample per packet, and 100 agents send small
 * reads. Packing what arrives in one event-loop turn into one record means
 * one spool key, one seq and one de-duplication unit for hundreds of
 * packets, and one compression call for all of them: per call, zlib's
 * set-up costs about as much as compressing 5 KB, so compressing each read
 * alone cost more than the rest of the relay. The spool holds the
 * compressed bytes and the uplink sends them as they are. A payload
 * decompresses to at most UPLINK_MAX_PACKED_PAYLOAD_BYTES, a cap the reader
 * enforces while decompressing.
 */
import { inflateRawSync } from 'node:zlib';
import { FrameDecoder } from '../decoder.js';
import type { Frame } from '../frame.js';
import { UplinkError, UplinkErrorCode } from './errors.js';
import { UPLINK_MAX_RECORD_BODY_BYTES } from './record.js';
import { zstdDecompress } from './zstd.js';

/** Record type of a PACKED record. */
export const UPLINK_PACKED_TYPE = 255;

/** Byte 0 of a PACKED body. */
export const PackedEncoding = { RAW: 0, DEFLATE: 1, ZSTD: 2 } as const;
export type PackedEncoding = (typeof PackedEncoding)[keyof typeof PackedEncoding];

/** Largest payload (before compression). */
export const UPLINK_MAX_PACKED_PAYLOAD_BYTES = UPLINK_MAX_RECORD_BODY_BYTES - 1;

/** One packet to pack: its agent packet type and JSON body as received. */
export interface PackedPacket {
  type: number;
  body: Uint8Array;
  /**
   * When set, `body` is that many complete frames (headers included), exactly
   * as they follow each other in the section: copied as they are. A relay
   * spools a socket read's run of frames this way, without one entry each.
   */
  frames?: number;
}

/** Packets of one connection: where they came from and the packets, in order. */
export interface PackedSection {
  src: string;
  uuid: string;
  packets: readonly PackedPacket[];
}

/** A section as unpacked: bodies are views into the inflated payload. */
export interface UnpackedSection {
  src: string;
  uuid: string;
  frames: Frame[];
}

/** Bytes of a section's header with these src and uuid (each at most 255 bytes of UTF-8). */
export function packedSectionOverhead(src: string, uuid: string): number {
  return 1 + Buffer.byteLength(src) + 1 + Buffer.byteLength(uuid) + 4;
}

/** Bytes one packet takes in a payload. */
export function packedPacketBytes(packet: PackedPacket): number {
  return packet.frames === undefined ? 5 + packet.body.length : packet.body.length;
}

/**
 * The uncompressed payload of sections: a view of `into` when it is large enough (a caller that
 * compresses each payload reuses one buffer), else a buffer of its own. Throws
 * OWL_ERR_UPLINK_BAD_RECORD for a src or uuid over 255 bytes.
 */
export function packSections(sections: readonly PackedSection[], into?: Buffer): Buffer {
  let total = 0;
  for (const s of sections) {
    total += packedSectionOverhead(s.src, s.uuid);
    for (const p of s.packets) total += packedPacketBytes(p);
  }
  const out =
    into !== undefined && into.length >= total ? into.subarray(0, total) : Buffer.allocUnsafe(total);
  let at = 0;
  for (const s of sections) {
    at = writeShortString(out, at, s.src, 'src');
    at = writeShortString(out, at, s.uuid, 'uuid');
    const lenAt = at;
    at += 4;
    for (const p of s.packets) {
      if (p.frames !== undefined) {
        out.set(p.body, at);
        at += p.body.length;
        continue;
      }
      out.writeUInt32BE(p.body.length + 1, at);
      out[at + 4] = p.type;
      out.set(p.body, at + 5);
      at += 5 + p.body.length;
    }
    out.writeUInt32BE(at - lenAt - 4, lenAt);
  }
  return out;
}

function writeShortString(out: Buffer, at: number, value: string, name: string): number {
  const n = out.write(value, at + 1, 'utf8');
  if (n > 255 || n !== Buffer.byteLength(value)) {
    throw new UplinkError(UplinkErrorCode.BAD_RECORD, `PACKED ${name} is over 255 bytes`);
  }
  out[at] = n;
  return at + 1 + n;
}

/** A PACKED body: the encoding byte, then the payload (already compressed when encoding says so). */
export function packedBody(encoding: PackedEncoding, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(1 + payload.length);
  out[0] = encoding;
  out.set(payload, 1);
  return out;
}

/**
 * The sections of a PACKED body. Frame bodies are views into the (inflated)
 * payload. Throws OWL_ERR_UPLINK_BAD_RECORD (unknown encoding, a section or
 * frame cut or invalid), BAD_COMPRESSION or INFLATE_LIMIT.
 */
export function unpackSections(body: Uint8Array): UnpackedSection[] {
  if (body.length === 0) throw new UplinkError(UplinkErrorCode.BAD_RECORD, 'PACKED record without encoding');
  const encoding = body[0];
  const rest = Buffer.from(body.buffer, body.byteOffset + 1, body.length - 1);
  let payload: Buffer;
  if (encoding === PackedEncoding.RAW) {
    payload = rest;
  } else if (encoding === PackedEncoding.DEFLATE) {
    try {
      payload = inflateRawSync(rest, { maxOutputLength: UPLINK_MAX_PACKED_PAYLOAD_BYTES });
    } catch (err) {
      const tooLarge = (err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE';
      throw new UplinkError(
        tooLarge ? UplinkErrorCode.INFLATE_LIMIT : UplinkErrorCode.BAD_COMPRESSION,
        tooLarge
          ? `PACKED record inflates past ${UPLINK_MAX_PACKED_PAYLOAD_BYTES} bytes`
          : 'PACKED record is not raw deflate',
        undefined,
        { cause: err },
      );
    }
  } else if (encoding === PackedEncoding.ZSTD) {
    payload = zstdDecompress(rest, UPLINK_MAX_PACKED_PAYLOAD_BYTES, 'PACKED record');
  } else {
    throw new UplinkError(UplinkErrorCode.BAD_RECORD, `PACKED encoding ${String(encoding)} is unknown`);
  }
  const out: UnpackedSection[] = [];
  let at = 0;
  const need = (n: number, what: string): void => {
    if (at + n > payload.length) throw new UplinkError(UplinkErrorCode.BAD_RECORD, `PACKED ${what} is cut`);
  };
  while (at < payload.length) {
    need(1, 'src length');
    const srcLen = payload[at++] as number;
    need(srcLen + 1, 'src');
    const src = payload.toString('utf8', at, at + srcLen);
    at += srcLen;
    const uuidLen = payload[at++] as number;
    need(uuidLen + 4, 'uuid');
    const uuid = payload.toString('utf8', at, at + uuidLen);
    at += uuidLen;
    const framesLen = payload.readUInt32BE(at);
    at += 4;
    need(framesLen, 'frames');
    out.push({ src, uuid, frames: decodeFrames(payload.subarray(at, at + framesLen)) });
    at += framesLen;
  }
  return out;
}

function decodeFrames(bytes: Buffer): Frame[] {
  const decoder = new FrameDecoder({ maxFrameBytes: UPLINK_MAX_RECORD_BODY_BYTES });
  let out: Frame[];
  try {
    out = decoder.push(bytes);
  } catch (err) {
    throw new UplinkError(UplinkErrorCode.BAD_RECORD, 'PACKED frame header invalid', undefined, {
      cause: err,
    });
  }
  if (decoder.error !== undefined) {
    throw new UplinkError(UplinkErrorCode.BAD_RECORD, `PACKED frame invalid: ${decoder.error.message}`);
  }
  if (!decoder.idle) throw new UplinkError(UplinkErrorCode.BAD_RECORD, 'PACKED frames end inside a frame');
  return out;
}

/** True when the stored record `record` (encodeRecord output) is a compressed PACKED record: compressing it again gains nothing. */
export function isCompressedPacked(record: Uint8Array): boolean {
  if (record.length < 16 || record[12] !== UPLINK_PACKED_TYPE) return false;
  const srcLen = record[13] as number;
  const uuidAt = 14 + srcLen;
  if (uuidAt >= record.length) return false;
  const bodyAt = uuidAt + 1 + (record[uuidAt] as number);
  const encoding = record[bodyAt];
  return encoding === PackedEncoding.DEFLATE || encoding === PackedEncoding.ZSTD;
}
