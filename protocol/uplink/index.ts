/** The relay ↔ upstream uplink protocol (docs/uplink.md). Pure code: no I/O, no `ws`, no `net`. */
export { UplinkErrorCode, UplinkError } from './errors.js';
export {
  UPLINK_PATH,
  UPLINK_VERSION,
  UPLINK_DEFAULT_WINDOW,
  UPLINK_HELLO_TIMEOUT_MS,
  UplinkCloseCode,
  type UplinkReconnect,
  describeCloseCode,
  closeCodeForHttpStatus,
} from './transport.js';
export {
  Heartbeat,
  type HeartbeatOptions,
  type HeartbeatTimers,
  UPLINK_DEFAULT_HEARTBEAT_MS,
} from './heartbeat.js';
export { type UplinkCredentials, formatAuthHeader, parseAuthHeader } from './auth.js';
export {
  UplinkChannel,
  type UplinkPeer,
  type UplinkKindInfo,
  UPLINK_KINDS,
  type UplinkMessageType,
} from './kinds.js';
export {
  type SeqRange,
  type UplinkHello,
  type UplinkWelcome,
  type UplinkCredit,
  type UplinkPing,
  type UplinkErrorMessage,
  BatchAckStatus,
  type UplinkBatch,
  type UplinkBatchAck,
  type UplinkHostConfigReq,
  type UplinkHostConfigResp,
  type UplinkConfigPush,
  type UplinkVersionReq,
  type UplinkVersionResp,
  type UplinkInventoryReq,
  type UplinkInventoryResp,
  type UplinkInventoryPush,
  type UplinkConfigError,
  type UplinkRelayStatus,
  type FirmwareOffer,
  type UplinkFirmwareOffer,
  type UplinkFirmwareChunkReq,
  type UplinkFirmwareChunk,
  type UplinkFirmwareError,
  type FirmwareFailureReport,
  type FirmwareRefusalReport,
  type FirmwareUnitReport,
  type UplinkFirmwareReport,
  type UplinkBodies,
  type UplinkMessageOf,
  type UplinkMessage,
} from './messages.js';
export {
  UPLINK_MAX_MESSAGE_BYTES,
  type UplinkDecodeOptions,
  encodeUplinkMessage,
  decodeUplinkMessage,
} from './codec.js';
export {
  type UplinkRecord,
  type UplinkSequencedRecord,
  UPLINK_RECORD_OVERHEAD,
  UPLINK_MAX_RECORD_BODY_BYTES,
  UPLINK_MAX_RECORD_BYTES,
  encodeRecord,
  decodeRecords,
  recordLength,
} from './record.js';
export {
  UPLINK_DEFAULT_MAX_BATCH_BYTES,
  type BatchInput,
  type BuildBatchOptions,
  type OpenBatchOptions,
  buildBatch,
  openBatch,
  batchSeqRanges,
} from './batch.js';
export {
  UPLINK_PACKED_TYPE,
  PackedEncoding,
  UPLINK_MAX_PACKED_PAYLOAD_BYTES,
  type PackedPacket,
  type PackedSection,
  type UnpackedSection,
  packedSectionOverhead,
  packedPacketBytes,
  packSections,
  packedBody,
  unpackSections,
  isCompressedPacked,
} from './packed.js';
export { ZSTD_MAX_LEVEL, ZstdCompressor, zstdDecompress } from './zstd.js';
export { CreditWindow } from './credit-window.js';
export { RangeSet } from './range-set.js';
