/**
 * The light half of the wire protocol: framing, packet types and bodies,
 * coded errors, timers, and a parser for the packets a relay sends an agent.
 * No schema compiler and no uplink codec: importing `protocol/index.ts`
 * compiles every packet schema with Ajv and loads zstd, about 16 MiB of RSS,
 * a third of what the agent may use on a host (issue 11). The agent imports
 * this instead; the relay and the upstream keep the full parser.
 */
export { ErrorCode, type OwlErrorCode, OwlError, FrameError, PacketError } from '../errors.js';
export { type Frame, HEADER_BYTES, DEFAULT_MAX_FRAME_BYTES } from '../frame.js';
export { FrameDecoder, type FrameDecoderOptions } from '../decoder.js';
export { encodeFrame, encodeJsonFrame } from '../encoder.js';
export { encodePacket } from '../packet-encoder.js';
export { PacketType, type PacketName, isPacketType, packetName } from '../packet-types.js';
export type * from '../packets.js';
export { SYSTEM_TIMERS, type TimerHandle, type Timers } from '../timers.js';
export { parseAgentBound, type AgentBoundPacket } from './agent-bound.js';
export { parseFirmwareBound, isFirmwareBound, type FirmwareBoundPacket } from './firmware-bound.js';
export { AGENT_FIRMWARE_MAX_CHUNK_BYTES, FIRMWARE_FEATURE, isBundleId } from '../firmware.js';
export { Backoff, type BackoffOptions } from '../backoff.js';
export { closest } from '../closest-key.js';
