/**
 * Firmware bundles: one signed file per program, version and architecture (docs/firmware.md).
 * Sign on the operator's machine (`owl-firmware sign`); verify and unpack on a relay or agent
 * with pinned public keys, into a staging directory the slot code then installs from.
 */
export { FirmwareError, FirmwareErrorCode } from './errors.js';
export { ARCHES, PROGRAMS, type Arch, type Entry, type Manifest, type Program } from './manifest.js';
export { DEFAULT_MAX_BUNDLE_BYTES, DEFAULT_MAX_TREE_BYTES } from './format.js';
export { generateKeys, keyIdOf, loadPrivateKey, loadPublicKeys, type PinnedKey } from './keys.js';
export { signBundle, type SignOptions } from './bundle-write.js';
export { readManifest, verifyBundle, type ReadLimits, type VerifyOptions } from './bundle-read.js';
export { checkPolicy, type Policy } from './policy.js';
export { compareSemVer, isSemVer } from './semver.js';
export { encodeBundle } from './bundle-encode.js';
export { EXIT_FIRMWARE_RESTART } from './restart.js';
// The A/B slots, install and rollback (docs/firmware-slots.md).
export {
  SlotError,
  SlotErrorCode,
  SlotFailureCode,
  SlotSet,
  prestart,
  check,
  type SlotStatus,
  writeFileAtomic,
} from './slots/index.js';
