/**
 * Streaming zstd for the payload, straight on `zstd-napi`'s binding: each output buffer is handed
 * to an async sink and awaited before the next is produced, so memory stays at one buffer and a
 * slow disk slows the decompressor instead of queueing its output (zstd-napi's Transform pushes a
 * whole chunk's output at once). The reader's window is capped (format.ts ZSTD_WINDOW_LOG).
 */
import { createRequire } from 'node:module';
import type * as ZstdBinding from 'zstd-napi/binding.js';
import { ZSTD_WINDOW_LOG } from './format.js';

// The binding is a native CommonJS module: no ESM named exports to import.
const zstd = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof ZstdBinding;

const OUT_BYTES = 256 * 1024;

export type Sink = (bytes: Buffer) => Promise<void>;

export class ZstdStreamCompressor {
  private readonly cctx = new zstd.CCtx();
  private readonly out = Buffer.allocUnsafe(OUT_BYTES);

  constructor(
    level: number,
    private readonly sink: Sink,
  ) {
    this.cctx.setParameter(zstd.CParameter.compressionLevel, level);
    this.cctx.setParameter(zstd.CParameter.windowLog, ZSTD_WINDOW_LOG);
  }

  async write(src: Buffer): Promise<void> {
    while (src.length > 0) {
      const [, produced, consumed] = this.cctx.compressStream2(this.out, src, zstd.EndDirective.continue);
      if (produced > 0) await this.sink(this.out.subarray(0, produced));
      src = src.subarray(consumed);
    }
  }

  /** Ends the frame: flushes everything left. */
  async end(): Promise<void> {
    for (;;) {
      const [left, produced] = this.cctx.compressStream2(this.out, Buffer.alloc(0), zstd.EndDirective.end);
      if (produced > 0) await this.sink(this.out.subarray(0, produced));
      if (left === 0) return;
    }
  }
}

export class ZstdStreamDecompressor {
  private readonly dctx = new zstd.DCtx();
  private readonly out = Buffer.allocUnsafe(OUT_BYTES);
  /** True between frames: the stream may end here. */
  private atFrameEnd = true;

  /** `sink` gets each output buffer; it must be done with it when its promise settles. */
  constructor(private readonly sink: Sink) {
    this.dctx.setParameter(zstd.DParameter.windowLogMax, ZSTD_WINDOW_LOG);
  }

  /** Throws the binding's error on bad data (the caller turns it into CORRUPT). */
  async write(src: Buffer): Promise<void> {
    for (;;) {
      const [hint, produced, consumed] = this.dctx.decompressStream(this.out, src);
      if (produced > 0) await this.sink(this.out.subarray(0, produced));
      src = src.subarray(consumed);
      this.atFrameEnd = hint === 0;
      // Done with this input once it is consumed and the output buffer was not filled.
      if (src.length === 0 && produced < this.out.length) return;
    }
  }

  /** Whether the input so far ended on a frame boundary (not cut inside a frame). */
  get complete(): boolean {
    return this.atFrameEnd;
  }
}
