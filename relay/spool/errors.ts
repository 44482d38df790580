import { OwlError, type OwlErrorOptions } from '../../protocol/index.js';

/** Stable codes of spool errors. */
export const SpoolErrorCode = {
  /** The cap is reached under policy 'reject-new'; retry once the uplink drains the spool. */
  FULL: 'OWL_ERR_SPOOL_FULL',
  /** One record (or append) cannot fit even in an empty spool. */
  RECORD_TOO_LARGE: 'OWL_ERR_SPOOL_RECORD_TOO_LARGE',
  /** A record is not `{ payload: Buffer, samples: non-negative integer }`. */
  BAD_RECORD: 'OWL_ERR_SPOOL_BAD_RECORD',
  /** The spool is closed or closing. */
  CLOSED: 'OWL_ERR_SPOOL_CLOSED',
  /** Another process (or another open in this one) holds the spool. */
  LOCKED: 'OWL_ERR_SPOOL_LOCKED',
  /** The storage failed (disk full, I/O error); the spool stops accepting work until reopened. */
  IO: 'OWL_ERR_SPOOL_IO',
} as const;
export type SpoolErrorCode = (typeof SpoolErrorCode)[keyof typeof SpoolErrorCode];

/** Raised by spools. */
export class SpoolError extends OwlError {
  constructor(code: SpoolErrorCode, message: string, options: OwlErrorOptions = {}) {
    super(code, message, options);
  }
}
