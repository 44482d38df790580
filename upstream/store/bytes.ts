/**
 * Growable byte writer and bounds-checked reader with LEB128 varints for
 * integers up to 2^53 (plain arithmetic above 2^31: bit operators would
 * truncate). A reader past the end throws CORRUPT: stored bytes are never
 * trusted to be well-formed.
 */
import { StoreError, StoreErrorCode } from './errors.js';

const TWO_31 = 2 ** 31;

/** Zigzag-map a signed safe integer to an unsigned one (|n| must be < 2^52). */
export function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

export function unzigzag(n: number): number {
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

export class ByteWriter {
  buf: Buffer;
  pos = 0;

  constructor(initialBytes = 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  reset(): void {
    this.pos = 0;
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  /** Unsigned varint, n a safe integer >= 0. */
  varint(n: number): void {
    this.ensure(8);
    const buf = this.buf;
    if (n < TWO_31) {
      while (n >= 0x80) {
        buf[this.pos++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
    } else {
      while (n >= 0x80) {
        buf[this.pos++] = (n % 128) | 0x80;
        n = Math.floor(n / 128);
      }
    }
    buf[this.pos++] = n;
  }

  f64(n: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(n, this.pos);
    this.pos += 8;
  }

  u32(n: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(n, this.pos);
    this.pos += 4;
  }

  bytes(src: Uint8Array, start = 0, end = src.length): void {
    this.ensure(end - start);
    this.buf.set(src.subarray(start, end), this.pos);
    this.pos += end - start;
  }

  /** A view of what was written; valid until the next write or reset. */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  /** An owned copy of what was written. */
  copy(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

export class ByteReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw corrupt('record ends early');
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }

  varint(): number {
    const buf = this.buf;
    let result = 0;
    let mult = 1;
    for (let i = 0; i < 8; i++) {
      if (this.pos >= this.end) throw corrupt('varint ends early');
      const b = buf[this.pos++] as number;
      result += (b & 0x7f) * mult;
      if (b < 0x80) return result;
      mult *= 128;
    }
    throw corrupt('varint too long');
  }

  f64(): number {
    this.need(8);
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
}

export function corrupt(message: string, cause?: unknown): StoreError {
  return new StoreError(StoreErrorCode.CORRUPT, message, cause === undefined ? {} : { cause });
}
