import { DEFAULT_MAX_FRAME_BYTES, HEADER_BYTES, type Frame } from './frame.js';
import { ErrorCode, FrameError } from './errors.js';

/**
 * Push-fed frame decoder: a state machine with no I/O.
 *
 * Feed it chunks of any size with `push()`; it returns the frames completed by
 * that chunk. It keeps a list of unconsumed chunks and a byte count, slices
 * with `subarray` and copies only when a header or body straddles chunks.
 * The length prefix is checked against `maxFrameBytes` before any of the body
 * is buffered. After an error the decoder is dead: every later `push()`
 * throws, since the stream can no longer be framed.
 */

const State = { HEADER: 0, BODY: 1, FAILED: 2 } as const;
type State = (typeof State)[keyof typeof State];

export interface FrameDecoderOptions {
  /** Largest accepted N (type byte + body). Default 1 MiB. */
  maxFrameBytes?: number;
}

export class FrameDecoder {
  readonly maxFrameBytes: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Bytes of chunks[0] already consumed. */
  private offset = 0;
  private state: State = State.HEADER;
  /** N of the frame being read, valid in BODY. */
  private frameBytes = 0;
  private failure: FrameError | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxFrameBytes must be a positive integer`);
    this.maxFrameBytes = max;
  }

  /** Bytes held that do not yet form a whole frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /**
   * The error that stopped the decoder, if any. When a chunk holds good frames
   * and then a bad header, `push()` returns the good frames and sets this; the
   * next `push()` throws it.
   */
  get error(): FrameError | undefined {
    return this.failure;
  }

  /** True while the decoder keeps `chunk` (it holds part of a frame not yet complete). */
  holds(chunk: Buffer): boolean {
    return this.chunks.includes(chunk);
  }

  /** True when no partial frame is held (a clean place for the stream to end). */
  get idle(): boolean {
    return this.state === State.HEADER && this.buffered === 0;
  }

  /** Feed one chunk; returns the frames it completed, in order. Throws a FrameError on a bad stream. */
  push(chunk: Buffer): Frame[] {
    if (this.failure) throw this.failure;
    const frames: Frame[] = [];
    if (chunk.length === 0) return frames;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.state === State.HEADER) {
        if (this.buffered < HEADER_BYTES) break;
        const n = this.readHeader();
        if (n === 0 || n > this.maxFrameBytes) {
          const error =
            n === 0
              ? this.fail(ErrorCode.EMPTY_FRAME, 'frame length 0 is invalid')
              : this.fail(ErrorCode.FRAME_TOO_LARGE, `frame length ${n} exceeds limit ${this.maxFrameBytes}`);
          // Frames completed before the bad header are good: hand them over, report the error after.
          if (frames.length > 0) return frames;
          throw error;
        }
        this.frameBytes = n;
        this.state = State.BODY;
      }
      if (this.buffered < this.frameBytes) break;
      frames.push(this.takeFrame(this.frameBytes));
      this.state = State.HEADER;
    }
    // The start of a frame left at the end of a chunk is copied out, so that the decoder does not
    // keep the whole chunk (a socket read, up to 64 KiB) alive for the few bytes it still needs.
    if (this.chunks.length === 1 && this.offset > 0) {
      this.chunks[0] = Buffer.from((this.chunks[0] as Buffer).subarray(this.offset));
      this.offset = 0;
    }
    return frames;
  }

  /**
   * Signal the end of the stream. Throws OWL_ERR_TRUNCATED_FRAME when a
   * partial frame is held, so callers can tell a clean close from a cut one.
   */
  end(): void {
    if (this.failure) throw this.failure;
    if (!this.idle) {
      throw this.fail(ErrorCode.TRUNCATED_FRAME, `stream ended inside a frame (${this.buffered} bytes held)`);
    }
  }

  private readHeader(): number {
    const first = this.chunks[0] as Buffer;
    if (first.length - this.offset >= HEADER_BYTES) {
      const n = first.readUInt32BE(this.offset);
      this.advance(first, HEADER_BYTES);
      return n;
    }
    return this.consume(HEADER_BYTES).readUInt32BE(0);
  }

  /**
   * Take the next `n` buffered bytes as a frame. When they sit in one chunk
   * (nearly always) the body is a single view into it: this runs once per
   * frame, and each Buffer view costs as much as a small JSON parse.
   */
  private takeFrame(n: number): Frame {
    const first = this.chunks[0] as Buffer;
    const start = this.offset;
    if (n <= first.length - start) {
      const frame: Frame = { type: first[start] as number, body: first.subarray(start + 1, start + n) };
      this.advance(first, n);
      return frame;
    }
    const payload = this.consume(n);
    return { type: payload[0] as number, body: payload.subarray(1) };
  }

  /** Move past `n` bytes of the first chunk (n <= what is left of it). */
  private advance(first: Buffer, n: number): void {
    this.buffered -= n;
    this.offset += n;
    if (this.offset === first.length) {
      this.chunks.shift();
      this.offset = 0;
    }
  }

  /** Take `n` buffered bytes as one buffer: a view when they sit in one chunk, a copy otherwise. */
  private consume(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (n <= first.length - this.offset) {
      const out = first.subarray(this.offset, this.offset + n);
      this.advance(first, n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const head = this.chunks[0] as Buffer;
      const take = Math.min(head.length - this.offset, n - written);
      head.copy(out, written, this.offset, this.offset + take);
      written += take;
      this.advance(head, take);
    }
    return out;
  }

  /** Enter the failed state; returns the error (the caller throws it). */
  private fail(
    code: typeof ErrorCode.FRAME_TOO_LARGE | typeof ErrorCode.EMPTY_FRAME | typeof ErrorCode.TRUNCATED_FRAME,
    message: string,
  ): FrameError {
    this.state = State.FAILED;
    this.chunks = [];
    this.buffered = 0;
    this.offset = 0;
    this.failure = new FrameError(code, message);
    return this.failure;
  }
}
