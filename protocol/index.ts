/** The OWL wire protocol: framing, packet types, bodies and validation. Pure code, no I/O. */
export {
  ErrorCode,
  type OwlErrorCode,
  OwlError,
  FrameError,
  PacketError,
  type OwlErrorOptions,
} from './errors.js';
export { type Frame, HEADER_BYTES, DEFAULT_MAX_FRAME_BYTES, MAX_ENCODABLE_FRAME_BYTES } from './frame.js';
export { FrameDecoder, type FrameDecoderOptions } from './decoder.js';
export { encodeFrame, encodeJsonFrame } from './encoder.js';
export {
  PacketType,
  type PacketName,
  isPacketType,
  isV3Type,
  packetName,
  EMPTY_BODY_TYPES,
} from './packet-types.js';
export type * from './packets.js';
export { DEFAULT_LIMITS, type ProtocolLimits } from './limits.js';
export { createPacketParser, defaultParser, type PacketParser } from './parser.js';
export { encodePacket } from './packet-encoder.js';
export { scanForward, type ForwardSummary } from './scan.js';
export { toWireError, fromWireError, type WireError } from './wire-error.js';
export * from './uplink/index.js';
export { SYSTEM_TIMERS, type TimerHandle, type Timers } from './timers.js';
export { Backoff, type BackoffOptions } from './backoff.js';
export {
  compileConfigSchema,
  parseConfigJson,
  type ConfigCheck,
  type ConfigSchema,
} from './config-schema.js';
export { startupFailureLine, startupFailureStack, type StartupContext } from './startup-failure.js';
export { OWL_VERSION } from './version.js';
export {
  FIRMWARE_MAX_CHUNK_BYTES,
  FIRMWARE_DEFAULT_CHUNK_BYTES,
  AGENT_FIRMWARE_MAX_CHUNK_BYTES,
  FIRMWARE_FEATURE,
  FirmwareChunkError,
  isBundleId,
  inRollout,
} from './firmware.js';
