/**
 * Packets 19–22 as the agent speaks them (docs/protocol.md, the firmware packets): FWCHECK and
 * FWCHUNKREQ out, FWOFFER and FWCHUNK in, each checked by hand (no Ajv on the agent,
 * protocol/wire/index.ts says why) with the same rules as the relay's schemas. Sent only when the
 * relay's HELLO reply lists the `firmware` feature.
 */
import {
  ErrorCode,
  PacketError,
  PacketType,
  type FirmwareCheck,
  type FirmwareChunkBody,
  type FirmwareChunkRequest,
  type FirmwareOfferBody,
  type Frame,
} from '../../protocol/wire/index.js';

/** Packet types 19–22 (protocol/packet-types.ts). */
export const FwPacket = {
  FWCHECK: PacketType.FWCHECK,
  FWOFFER: PacketType.FWOFFER,
  FWCHUNKREQ: PacketType.FWCHUNKREQ,
  FWCHUNK: PacketType.FWCHUNK,
} as const;

/**
 * protocol/firmware.ts's FIRMWARE_FEATURE, AGENT_FIRMWARE_MAX_CHUNK_BYTES and isBundleId, which
 * protocol/wire does not export (yet): repeated here, held equal by test/agent/firmware-units.test.ts.
 */
export const FIRMWARE_FEATURE = 'firmware';
export const AGENT_FIRMWARE_MAX_CHUNK_BYTES = 192 * 1024;
export function isBundleId(s: unknown): s is string {
  return typeof s === 'string' && /^[0-9a-f]{64}$/.test(s);
}

export type FwCheck = FirmwareCheck;
export type FwOffer = FirmwareOfferBody;
export type FwChunkReq = FirmwareChunkRequest;
export type FwChunk = FirmwareChunkBody;
export type OfferedBundle = NonNullable<FwOffer['bundle']>;

export type FirmwarePacket =
  { type: typeof PacketType.FWOFFER; body: FwOffer } | { type: typeof PacketType.FWCHUNK; body: FwChunk };

export function isFirmwareBound(type: number): boolean {
  return type === PacketType.FWOFFER || type === PacketType.FWCHUNK;
}

type Obj = Record<string, unknown>;

function bad(field: string, message: string): never {
  throw new PacketError(ErrorCode.BAD_FIELD, message, field);
}

function uint(o: Obj, key: string, at = ''): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    bad(`${at}/${key}`, `${key} must be an unsigned integer`);
  return v;
}

function str(o: Obj, key: string, required: boolean, max = 4096): void {
  const v = o[key];
  if (v === undefined && !required) return;
  if (typeof v !== 'string' || v.length > max) bad(`/${key}`, `${key} must be a string of at most ${max}`);
}

function object(v: unknown, at: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(at, `${at || 'body'} must be an object`);
  return v as Obj;
}

/** Check a FWOFFER or FWCHUNK frame; throws PacketError with a code and the field. */
export function parseFirmwarePacket(frame: Frame): FirmwarePacket {
  let value: unknown;
  try {
    value = JSON.parse(frame.body.toString());
  } catch {
    throw new PacketError(ErrorCode.BAD_JSON, `firmware packet ${frame.type}: body is not JSON`);
  }
  const body = object(value, '');
  if (frame.type === FwPacket.FWOFFER) {
    if (body.bundle !== null) {
      const b = object(body.bundle, '/bundle');
      if (!isBundleId(b.id)) bad('/bundle/id', 'id must be a sha256 in lowercase hex');
      if (typeof b.version !== 'string' || b.version.length < 1 || b.version.length > 64)
        bad('/bundle/version', 'version must be a string of 1 to 64');
      if (uint(b, 'size', '/bundle') < 1) bad('/bundle/size', 'size must be at least 1');
    }
    return { type: FwPacket.FWOFFER, body: body as unknown as FwOffer };
  }
  uint(body, 'id');
  uint(body, 'offset');
  if (!isBundleId(body.bundle)) bad('/bundle', 'bundle must be a sha256 in lowercase hex');
  str(body, 'data', false, Math.ceil(AGENT_FIRMWARE_MAX_CHUNK_BYTES / 3) * 4); // base64 of the largest chunk
  str(body, 'code', false, 128);
  str(body, 'message', false);
  if ((body.data === undefined) === (body.code === undefined)) bad('/data', 'FWCHUNK carries data or a code');
  return { type: FwPacket.FWCHUNK, body: body as unknown as FwChunk };
}
