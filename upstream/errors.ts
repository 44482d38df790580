/** Upstream error codes, in the protocol's `OWL_ERR_*` form: the API's, the config's. */
import type { FirmwareErrorCode } from '../firmware/index.js';
import { ErrorCode, FirmwareChunkError, OwlError, type OwlErrorOptions } from '../protocol/index.js';

export const UpstreamErrorCode = {
  CONFIG_INVALID: 'OWL_ERR_CONFIG_INVALID',
  UNAUTHENTICATED: ErrorCode.UNAUTHENTICATED,
  INTERNAL: ErrorCode.INTERNAL,
  BAD_JSON: ErrorCode.BAD_JSON,
  BAD_FIELD: ErrorCode.BAD_FIELD,
  /** An API request body over its cap. */
  TOO_LARGE: 'OWL_ERR_TOO_LARGE',
  NOT_FOUND: 'OWL_ERR_NOT_FOUND',
  /** The thing to create exists already. */
  CONFLICT: 'OWL_ERR_CONFLICT',
  /** FIRMWARE_ERROR: the bundle asked for is not (or no longer) offered to this relay. */
  FIRMWARE_UNKNOWN_BUNDLE: FirmwareChunkError.UNKNOWN_BUNDLE,
  /** FIRMWARE_ERROR: the offset is past the end of the bundle, or the length is not 1..FIRMWARE_MAX_CHUNK_BYTES. */
  FIRMWARE_BAD_RANGE: FirmwareChunkError.BAD_RANGE,
} as const;
export type UpstreamErrorCode = (typeof UpstreamErrorCode)[keyof typeof UpstreamErrorCode];

/**
 * A refusal of the operator API: a coded error with the HTTP status it is answered with (a
 * bundle refused at publish keeps its firmware code).
 */
export class HttpError extends OwlError {
  constructor(
    readonly status: number,
    code: UpstreamErrorCode | FirmwareErrorCode,
    message: string,
    options?: OwlErrorOptions,
  ) {
    super(code, message, options);
  }
}
