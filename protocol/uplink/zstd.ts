/**
 * Zstandard for PACKED payloads (encoding 2), through `zstd-napi`'s
 * bindings to the reference library. Node 24's node:zlib has zstd too, but
 * makes a context per call: measured against this in the relay's benches
 * (docs/benchmarks.md, issue 10), it was within 10 % of the CPU at full load
 * and 8-19 % more, with 23-25 MiB more RSS, at a gateway's rate, so it is
 * only a bench switch (ZstdImpl).
 *
 * Why zstd: zlib on libuv's thread pool was, under batch load, 40 % of the
 * relay's CPU; its per-call set-up (a fresh deflate state of about 256 KiB)
 * and the pool round trips cost about as much as compressing. A reused zstd
 * context on the relay's own thread, at level 3, made the relay's whole CPU
 * per sample about half and its records smaller (docs/benchmarks.md), and
 * decompresses about twice as fast at the upstream.
 *
 * Compression is synchronous: a whole record (at most 1 MiB) takes a few
 * milliseconds; contexts are reused, so a call allocates no zstd state.
 *
 * Decompression is bounded: a frame must state its content size, at most
 * the caller's cap, and decompress into exactly that many bytes; anything
 * else is refused before or while decoding, so a zstd bomb costs at most
 * the cap. One frame per payload: trailing bytes are refused too.
 */
import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import type * as ZstdBinding from 'zstd-napi/binding.js';
import { UplinkError, UplinkErrorCode } from './errors.js';

// The binding is a native CommonJS module: no ESM named exports to import.
const zstd = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof ZstdBinding;

/** Highest level accepted (zstd's own maximum is 22; above 19 needs far more memory). */
export const ZSTD_MAX_LEVEL = 19;

interface ZstdOptions {
  /** 1–ZSTD_MAX_LEVEL. */
  level: number;
  /** Shortest match (3–7); absent: the level's own. */
  minMatch?: number;
}

/**
 * Which library compresses: `napi` (zstd-napi, a reused context) or `zlib` (Node 24's node:zlib,
 * a fresh context per call, as its API offers no other). A bench switch (docs/benchmarks.md, zstd
 * A/B), read from OWL_ZSTD_IMPL when a compressor is made; `napi` unless it says `zlib`.
 */
type ZstdImpl = 'napi' | 'zlib';

function implFromEnv(): ZstdImpl {
  return process.env.OWL_ZSTD_IMPL === 'zlib' ? 'zlib' : 'napi';
}

function checkLevel(level: number): void {
  if (!Number.isInteger(level) || level < 1 || level > ZSTD_MAX_LEVEL) {
    throw new RangeError(`zstd level ${String(level)} is not an integer in 1–${ZSTD_MAX_LEVEL}`);
  }
}

/** A reusable compression context. Not for concurrent use (it is synchronous anyway). */
export class ZstdCompressor {
  /** Set when node:zlib compresses (see ZstdImpl). */
  private readonly zlibOptions: zlib.ZstdOptions | undefined;
  private readonly cctx: InstanceType<typeof zstd.CCtx> | undefined;
  private scratch: Buffer = Buffer.alloc(0);

  constructor({ level, minMatch }: ZstdOptions, impl: ZstdImpl = implFromEnv()) {
    checkLevel(level);
    if (impl === 'zlib') {
      const c = zlib.constants;
      const params: Record<number, number> = {
        [c.ZSTD_c_compressionLevel]: level,
        [c.ZSTD_c_contentSizeFlag]: 1,
      };
      if (minMatch !== undefined) params[c.ZSTD_c_minMatch] = minMatch;
      this.zlibOptions = { params };
      return;
    }
    this.cctx = new zstd.CCtx();
    this.cctx.setParameter(zstd.CParameter.compressionLevel, level);
    if (minMatch !== undefined) this.cctx.setParameter(zstd.CParameter.minMatch, minMatch);
    // Stated in each frame, so the reader can allocate once and bound the output.
    this.cctx.setParameter(zstd.CParameter.contentSizeFlag, 1);
  }

  /** One zstd frame holding `input`, in a buffer of its own (`prefix` leading bytes left for the caller). */
  compress(input: Uint8Array, prefix = 0): Buffer {
    if (this.cctx === undefined) return this.compressZlib(input, prefix);
    const bound = zstd.compressBound(input.length);
    if (this.scratch.length < bound) this.scratch = Buffer.allocUnsafe(bound);
    const n = this.cctx.compress2(this.scratch, input);
    const out = Buffer.allocUnsafe(prefix + n);
    this.scratch.copy(out, prefix, 0, n);
    return out;
  }

  private compressZlib(input: Uint8Array, prefix: number): Buffer {
    const frame = zlib.zstdCompressSync(input, this.zlibOptions);
    if (prefix === 0) return frame;
    const out = Buffer.allocUnsafe(prefix + frame.length);
    frame.copy(out, prefix);
    return out;
  }
}

const dctx = new zstd.DCtx();

/**
 * The content of the single zstd frame `input`, at most `maxBytes` long.
 * Throws OWL_ERR_UPLINK_INFLATE_LIMIT (states more than `maxBytes`) or
 * OWL_ERR_UPLINK_BAD_COMPRESSION (not one whole frame, no content size, or
 * content that does not match it); `what` names the input in messages.
 */
export function zstdDecompress(input: Uint8Array, maxBytes: number, what: string): Buffer {
  let size: number | null;
  let frameBytes: number;
  try {
    size = zstd.getFrameContentSize(input);
    frameBytes = zstd.findFrameCompressedSize(input);
  } catch (err) {
    throw new UplinkError(UplinkErrorCode.BAD_COMPRESSION, `${what} is not a zstd frame`, undefined, {
      cause: err,
    });
  }
  if (size === null) {
    throw new UplinkError(UplinkErrorCode.BAD_COMPRESSION, `${what}: zstd frame without a content size`);
  }
  if (size > maxBytes) {
    throw new UplinkError(UplinkErrorCode.INFLATE_LIMIT, `${what} decompresses past ${maxBytes} bytes`);
  }
  if (frameBytes !== input.length) {
    throw new UplinkError(UplinkErrorCode.BAD_COMPRESSION, `${what}: bytes after its zstd frame`);
  }
  const out = Buffer.allocUnsafe(size);
  let n: number;
  try {
    n = dctx.decompress(out, input);
  } catch (err) {
    throw new UplinkError(UplinkErrorCode.BAD_COMPRESSION, `${what} is not valid zstd`, undefined, {
      cause: err,
    });
  }
  if (n !== size) {
    throw new UplinkError(UplinkErrorCode.BAD_COMPRESSION, `${what}: zstd frame shorter than it states`);
  }
  return out;
}
