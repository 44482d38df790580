/**
 * FWOFFER (20) and FWCHUNK (22), the firmware packets a relay sends an agent, checked by hand
 * with the same rules as schemas.ts (wire/index.ts says why there is no Ajv here), except that a
 * FWCHUNK must carry `data` or a `code`. Pure: no I/O.
 */
import { ErrorCode, PacketError } from '../errors.js';
import { AGENT_FIRMWARE_MAX_CHUNK_BYTES, isBundleId } from '../firmware.js';
import type { Frame } from '../frame.js';
import { PacketType } from '../packet-types.js';
import type { FirmwareChunkBody, FirmwareOfferBody } from '../packets.js';

export type FirmwareBoundPacket =
  | { type: typeof PacketType.FWOFFER; body: FirmwareOfferBody }
  | { type: typeof PacketType.FWCHUNK; body: FirmwareChunkBody };

/** True for the packet types parseFirmwareBound takes. */
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
export function parseFirmwareBound(frame: Frame): FirmwareBoundPacket {
  let value: unknown;
  try {
    value = JSON.parse(frame.body.toString());
  } catch {
    throw new PacketError(ErrorCode.BAD_JSON, `firmware packet ${frame.type}: body is not JSON`);
  }
  const body = object(value, '');
  if (frame.type === PacketType.FWOFFER) {
    if (body.bundle !== null) {
      const b = object(body.bundle, '/bundle');
      if (!isBundleId(b.id)) bad('/bundle/id', 'id must be a sha256 in lowercase hex');
      if (typeof b.version !== 'string' || b.version.length < 1 || b.version.length > 64)
        bad('/bundle/version', 'version must be a string of 1 to 64');
      if (uint(b, 'size', '/bundle') < 1) bad('/bundle/size', 'size must be at least 1');
    }
    return { type: PacketType.FWOFFER, body: body as unknown as FirmwareOfferBody };
  }
  uint(body, 'id');
  uint(body, 'offset');
  if (!isBundleId(body.bundle)) bad('/bundle', 'bundle must be a sha256 in lowercase hex');
  str(body, 'data', false, Math.ceil(AGENT_FIRMWARE_MAX_CHUNK_BYTES / 3) * 4); // base64 of the largest chunk
  str(body, 'code', false, 128);
  str(body, 'message', false);
  if ((body.data === undefined) === (body.code === undefined)) bad('/data', 'FWCHUNK carries data or a code');
  return { type: PacketType.FWCHUNK, body: body as unknown as FirmwareChunkBody };
}
