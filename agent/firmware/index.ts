/** agent/firmware: the agent's side of firmware delivery (docs/firmware-agent.md). */
export {
  EXIT_FIRMWARE_RESTART,
  FirmwareUpdater,
  type FirmwareSettings,
  type FirmwareStatus,
  type UpdaterOptions,
} from './updater.js';
export { ChunkFetcher, CORRUPT_CODE, type DownloadStatus, type FetchOptions } from './chunk-fetcher.js';
export { checkBody, FirmwareChecker } from './checker.js';
export { HealthCommit } from './health-commit.js';
export { switchSlots, verifyAndInstall, type InstallOptions } from './installer.js';
export { Refusals, type Refusal } from './refusals.js';
export { firmwareArch, readRuntime, type Runtime } from './runtime.js';
export {
  AGENT_FIRMWARE_MAX_CHUNK_BYTES,
  FIRMWARE_FEATURE,
  FwPacket,
  isBundleId,
  isFirmwareBound,
  parseFirmwarePacket,
  type FirmwarePacket,
  type FwCheck,
  type FwChunk,
  type FwChunkReq,
  type FwOffer,
  type OfferedBundle,
} from './wire.js';
