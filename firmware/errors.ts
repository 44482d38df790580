/**
 * Firmware error codes, in the protocol's `OWL_ERR_*` form. A refused bundle is reported to the
 * upstream with its code and logged once; the message says what was wrong in an operator's words.
 */
import { OwlError, type OwlErrorOptions } from '../protocol/index.js';

export const FirmwareErrorCode = {
  /** The signature does not match the header and manifest: altered, or signed with another key. */
  BAD_SIGNATURE: 'OWL_ERR_FIRMWARE_BAD_SIGNATURE',
  /** The bundle names a key id that is not among the pinned public keys. */
  UNKNOWN_KEY: 'OWL_ERR_FIRMWARE_UNKNOWN_KEY',
  /** The bundle is for another program (owl-relay, owl-upstream, owl-agent). */
  WRONG_PROGRAM: 'OWL_ERR_FIRMWARE_WRONG_PROGRAM',
  /** The bundle is for another architecture (amd64, arm64). */
  WRONG_ARCH: 'OWL_ERR_FIRMWARE_WRONG_ARCH',
  /** The running version is below the bundle's minimum version it may upgrade from. */
  BELOW_MINIMUM: 'OWL_ERR_FIRMWARE_BELOW_MINIMUM',
  /** The bundle's version is not newer than the running one (and a downgrade was not allowed). */
  DOWNGRADE: 'OWL_ERR_FIRMWARE_DOWNGRADE',
  /** Truncated or altered file, bad header, bad manifest, bad path, a file's hash or size differs. */
  CORRUPT: 'OWL_ERR_FIRMWARE_CORRUPT',
  /** The bundle (or its manifest) is over the size cap. */
  TOO_LARGE: 'OWL_ERR_FIRMWARE_TOO_LARGE',
  /** A key file is not an Ed25519 key of the expected kind (private or public PEM). */
  BAD_KEY: 'OWL_ERR_FIRMWARE_BAD_KEY',
  /** keygen: a key file exists already; it is never overwritten. */
  KEY_EXISTS: 'OWL_ERR_FIRMWARE_KEY_EXISTS',
  /** sign: the tree holds something a bundle cannot carry (device, socket, escaping symlink...). */
  BAD_TREE: 'OWL_ERR_FIRMWARE_BAD_TREE',
  /** sign/verify: a bad program, arch or version argument. */
  BAD_ARGUMENT: 'OWL_ERR_FIRMWARE_BAD_ARGUMENT',
  /** verify: the staging directory exists already (it is never reused nor removed then). */
  STAGING_EXISTS: 'OWL_ERR_FIRMWARE_STAGING_EXISTS',
  /** Reading the bundle or writing the staging tree failed (disk full, permissions, I/O error). */
  IO: 'OWL_ERR_FIRMWARE_IO',
} as const;
export type FirmwareErrorCode = (typeof FirmwareErrorCode)[keyof typeof FirmwareErrorCode];

/** Raised by the bundle code: every refusal and failure carries one of the codes above. */
export class FirmwareError extends OwlError {
  constructor(code: FirmwareErrorCode, message: string, options: OwlErrorOptions = {}) {
    // Only an I/O failure may go away by itself (disk space freed); a refused bundle stays refused.
    super(code, message, { retriable: code === FirmwareErrorCode.IO, ...options });
  }
}
