/**
 * OWL frame format (the v3 wire format, unchanged):
 *
 *   | uint32 big-endian N | uint8 type | N-1 bytes of body (JSON, may be empty) |
 *
 * N counts the type byte plus the body; the 4-byte header is not counted.
 * N = 0 is invalid. N is checked against the configured maximum before a
 * single body byte is buffered, so a hostile length costs nothing.
 */

/** One decoded frame. `body` may be a view into the caller's chunk: copy it to keep it past the chunk's life. */
export interface Frame {
  type: number;
  body: Buffer;
}

/** Bytes of the length prefix. */
export const HEADER_BYTES = 4;

/** Default ceiling for N (type byte + body): 1 MiB, the v3 agent's own limit. */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;

/** Largest N the format can express. */
export const MAX_ENCODABLE_FRAME_BYTES = 0xffffffff;
