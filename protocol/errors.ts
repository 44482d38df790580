/**
 * Coded errors. Every error OWL raises on purpose is an `OwlError` with a
 * stable `code`; tests and peers match on the code, never on message text.
 * `retriable` says whether repeating the same operation later may succeed
 * (a full spool may drain; a malformed frame never becomes well-formed).
 */

/** Stable error codes. Never renumber or rename: they appear on the wire in ERROR packets. */
export const ErrorCode = {
  FRAME_TOO_LARGE: 'OWL_ERR_FRAME_TOO_LARGE',
  EMPTY_FRAME: 'OWL_ERR_EMPTY_FRAME',
  DECODER_FAILED: 'OWL_ERR_DECODER_FAILED',
  TRUNCATED_FRAME: 'OWL_ERR_TRUNCATED_FRAME',
  UNKNOWN_TYPE: 'OWL_ERR_UNKNOWN_TYPE',
  BAD_JSON: 'OWL_ERR_BAD_JSON',
  EMPTY_BODY: 'OWL_ERR_EMPTY_BODY',
  TOO_DEEP: 'OWL_ERR_TOO_DEEP',
  BAD_FIELD: 'OWL_ERR_BAD_FIELD',
  STRING_TOO_LONG: 'OWL_ERR_STRING_TOO_LONG',
  TOO_MANY_ITEMS: 'OWL_ERR_TOO_MANY_ITEMS',
  UNEXPECTED_PACKET: 'OWL_ERR_UNEXPECTED_PACKET',
  UNSUPPORTED_VERSION: 'OWL_ERR_UNSUPPORTED_VERSION',
  UNAUTHENTICATED: 'OWL_ERR_UNAUTHENTICATED',
  IDLE_TIMEOUT: 'OWL_ERR_IDLE_TIMEOUT',
  TOO_MANY_CONNECTIONS: 'OWL_ERR_TOO_MANY_CONNECTIONS',
  OVERLOADED: 'OWL_ERR_OVERLOADED',
  INTERNAL: 'OWL_ERR_INTERNAL',
  /** Uplink CONFIG_ERROR: the host belongs to another zone (it was moved); the relay forgets it. */
  FORBIDDEN_ZONE: 'OWL_ERR_FORBIDDEN_ZONE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Any OWL error code. Other folders define their own codes (relay, upstream, ...) in the same form. */
export type OwlErrorCode = `OWL_ERR_${string}`;

export interface OwlErrorOptions {
  retriable?: boolean;
  cause?: unknown;
}

/** Base class of every coded OWL error. */
export class OwlError extends Error {
  readonly code: OwlErrorCode;
  readonly retriable: boolean;

  constructor(code: OwlErrorCode, message: string, options: OwlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** Raised by the frame decoder: the byte stream cannot be framed; close the connection. */
export class FrameError extends OwlError {}

/** Raised by packet validation: one frame is well-framed but its body is not acceptable. */
export class PacketError extends OwlError {
  /** JSON pointer of the offending field, when one field is to blame (e.g. `/samples/3/value`). */
  readonly field: string | undefined;

  constructor(code: OwlErrorCode, message: string, field?: string, options: OwlErrorOptions = {}) {
    super(code, message, options);
    this.field = field;
  }
}
