/** Relay error codes, in the protocol's `OWL_ERR_*` form. */
import { OwlError, type OwlErrorOptions } from '../protocol/index.js';

export const RelayErrorCode = {
  CONFIG_INVALID: 'OWL_ERR_CONFIG_INVALID',
  NOT_ALLOWED: 'OWL_ERR_NOT_ALLOWED',
  WRITE_BACKLOG: 'OWL_ERR_WRITE_BACKLOG',
  UPSTREAM_UNAVAILABLE: 'OWL_ERR_UPSTREAM_UNAVAILABLE',
} as const;

export class RelayError extends OwlError {
  constructor(
    code: (typeof RelayErrorCode)[keyof typeof RelayErrorCode],
    message: string,
    options?: OwlErrorOptions,
  ) {
    super(code, message, options);
  }
}
