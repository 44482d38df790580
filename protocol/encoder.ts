import { HEADER_BYTES, MAX_ENCODABLE_FRAME_BYTES } from './frame.js';
import { ErrorCode, FrameError } from './errors.js';

const EMPTY = Buffer.alloc(0);

/**
 * Encode one frame into a single buffer: header, type and body together, so
 * one `write()` puts the whole frame on the socket.
 */
export function encodeFrame(type: number, body: Buffer | string = EMPTY): Buffer {
  if (!Number.isInteger(type) || type < 0 || type > 255) {
    throw new FrameError(ErrorCode.UNKNOWN_TYPE, `frame type ${type} is not a byte`);
  }
  const bodyBytes = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  const n = bodyBytes + 1;
  if (n > MAX_ENCODABLE_FRAME_BYTES) {
    throw new FrameError(ErrorCode.FRAME_TOO_LARGE, `frame of ${n} bytes cannot be encoded`);
  }
  const out = Buffer.allocUnsafe(HEADER_BYTES + n);
  out.writeUInt32BE(n, 0);
  out[HEADER_BYTES] = type;
  if (typeof body === 'string') out.write(body, HEADER_BYTES + 1, 'utf8');
  else body.copy(out, HEADER_BYTES + 1);
  return out;
}

/** Encode a frame whose body is `value` as JSON (`undefined` gives an empty body). */
export function encodeJsonFrame(type: number, value: unknown): Buffer {
  return encodeFrame(type, value === undefined ? EMPTY : JSON.stringify(value));
}
