/**
 * Coded errors of the uplink protocol. Every rejection of uplink input is an
 * UplinkError whose code starts with `OWL_ERR_UPLINK_`; tests and peers match
 * on the code. A decode failure means the peer broke the protocol: the
 * receiver sends ERROR and closes with 4400 (see transport.ts).
 */
import { OwlError, type OwlErrorOptions } from '../errors.js';

/** Stable uplink error codes. Never rename: they travel in ERROR messages. */
export const UplinkErrorCode = {
  /** The message (or a record, or a gap list) ends before its layout does. */
  TRUNCATED: 'OWL_ERR_UPLINK_TRUNCATED',
  /** A fixed-size binary message has bytes after its last field. */
  TRAILING_BYTES: 'OWL_ERR_UPLINK_TRAILING_BYTES',
  /** The message is larger than the receiver's `maxMessageBytes`. */
  TOO_LARGE: 'OWL_ERR_UPLINK_TOO_LARGE',
  /** Byte 0 is not a known channel. */
  UNKNOWN_CHANNEL: 'OWL_ERR_UPLINK_UNKNOWN_CHANNEL',
  /** Byte 1 is not a known kind of that channel. */
  UNKNOWN_KIND: 'OWL_ERR_UPLINK_UNKNOWN_KIND',
  /** A known kind sent by the wrong peer (e.g. a relay sending WELCOME). */
  WRONG_DIRECTION: 'OWL_ERR_UPLINK_WRONG_DIRECTION',
  /** A JSON body that does not parse (or is empty). */
  BAD_JSON: 'OWL_ERR_UPLINK_BAD_JSON',
  /** A JSON body nested deeper than the limit. */
  TOO_DEEP: 'OWL_ERR_UPLINK_TOO_DEEP',
  /** A field of the wrong type or out of range. */
  BAD_FIELD: 'OWL_ERR_UPLINK_BAD_FIELD',
  /** A BATCH header that contradicts itself (seq range, gaps, record count, flags). */
  BAD_BATCH: 'OWL_ERR_UPLINK_BAD_BATCH',
  /** A record inside a batch payload is malformed. */
  BAD_RECORD: 'OWL_ERR_UPLINK_BAD_RECORD',
  /** A compressed payload is not a valid raw deflate stream. */
  BAD_COMPRESSION: 'OWL_ERR_UPLINK_BAD_COMPRESSION',
  /** A payload inflates (or is) larger than the receiver allows: an inflate bomb or an oversized batch. */
  INFLATE_LIMIT: 'OWL_ERR_UPLINK_INFLATE_LIMIT',
  /** An Authorization header that is missing or not `Bearer <relayId>.<token>`. */
  BAD_AUTH: 'OWL_ERR_UPLINK_BAD_AUTH',
  /** A batch was sent with no credit left (CreditWindow). */
  NO_CREDIT: 'OWL_ERR_UPLINK_NO_CREDIT',
  /** A batch starting at the same firstSeq is already in flight (CreditWindow). */
  BATCH_IN_FLIGHT: 'OWL_ERR_UPLINK_BATCH_IN_FLIGHT',
  /** A message out of order or out of place: before HELLO, a second HELLO, a text frame. */
  PROTOCOL: 'OWL_ERR_UPLINK_PROTOCOL',
  /** Nothing heard from the peer for UPLINK_MISSED_HEARTBEATS periods: the link is dropped (close 4408). */
  HEARTBEAT_TIMEOUT: 'OWL_ERR_UPLINK_HEARTBEAT_TIMEOUT',
  /** The upstream failed to store the same seq range the same way twice: the relay retries it slowly. */
  BATCH_STUCK: 'OWL_ERR_UPLINK_BATCH_STUCK',
} as const;
export type UplinkErrorCode = (typeof UplinkErrorCode)[keyof typeof UplinkErrorCode];

/** A coded uplink error; `field` is the JSON pointer of the offending field when one is to blame. */
export class UplinkError extends OwlError {
  /** JSON pointer of the offending field (e.g. `/firstUnacked`), if any. */
  readonly field: string | undefined;

  constructor(code: UplinkErrorCode, message: string, field?: string, options: OwlErrorOptions = {}) {
    super(code, message, options);
    this.field = field;
  }
}
