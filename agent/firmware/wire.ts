/**
 * Packets 19–22 as the agent uses them (docs/protocol.md §5.16): it sends FWCHECK and FWCHUNKREQ,
 * and takes FWOFFER and FWCHUNK, checked by protocol/wire (firmware-bound.ts), only when the
 * relay's HELLO reply lists the `firmware` feature.
 */
import {
  PacketType,
  type FirmwareCheck,
  type FirmwareChunkBody,
  type FirmwareChunkRequest,
  type FirmwareOfferBody,
} from '../../protocol/wire/index.js';

export {
  AGENT_FIRMWARE_MAX_CHUNK_BYTES,
  FIRMWARE_FEATURE,
  isBundleId,
  isFirmwareBound,
  parseFirmwareBound as parseFirmwarePacket,
  type FirmwareBoundPacket as FirmwarePacket,
} from '../../protocol/wire/index.js';

/** Packet types 19–22 (protocol/packet-types.ts). */
export const FwPacket = {
  FWCHECK: PacketType.FWCHECK,
  FWOFFER: PacketType.FWOFFER,
  FWCHUNKREQ: PacketType.FWCHUNKREQ,
  FWCHUNK: PacketType.FWCHUNK,
} as const;

export type FwCheck = FirmwareCheck;
export type FwOffer = FirmwareOfferBody;
export type FwChunkReq = FirmwareChunkRequest;
export type FwChunk = FirmwareChunkBody;
export type OfferedBundle = NonNullable<FwOffer['bundle']>;
