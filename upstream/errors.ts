/** Upstream error codes, in the protocol's `OWL_ERR_*` form: the API's, the config's. */
import { ErrorCode, OwlError, type OwlErrorOptions } from '../protocol/index.js';

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
} as const;
export type UpstreamErrorCode = (typeof UpstreamErrorCode)[keyof typeof UpstreamErrorCode];

/** A refusal of the operator API: a coded error with the HTTP status it is answered with. */
export class HttpError extends OwlError {
  constructor(
    readonly status: number,
    code: UpstreamErrorCode,
    message: string,
    options?: OwlErrorOptions,
  ) {
    super(code, message, options);
  }
}
