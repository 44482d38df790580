/** Coded errors of rocks/, in the protocol's `OWL_ERR_*` form. */
import { OwlError, type OwlErrorOptions } from '../protocol/index.js';

/** Stable codes. */
export const RocksErrorCode = {
  /** Another process (or another start in this one) holds the state dir: a second instance refused. */
  STATE_LOCKED: 'OWL_ERR_STATE_LOCKED',
  /** The state dir's lock could not be taken for another reason (permissions, disk, I/O). */
  STATE_UNUSABLE: 'OWL_ERR_STATE_UNUSABLE',
} as const;
export type RocksErrorCode = (typeof RocksErrorCode)[keyof typeof RocksErrorCode];

/** Raised by rocks/ helpers. */
export class RocksError extends OwlError {
  constructor(code: RocksErrorCode, message: string, options?: OwlErrorOptions) {
    super(code, message, options);
  }
}
