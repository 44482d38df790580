/**
 * The bundle file: one signed, self-describing file per program, version and architecture.
 *
 *   offset 0   header, 32 bytes (big-endian)
 *     0  magic        8 bytes  0x89 "OWLFW" CR LF
 *     8  format       uint16   1
 *     10 flags        uint16   0 (anything else is refused: no ignored bits)
 *     12 manifestLen  uint32   bytes of the manifest, at most MAX_MANIFEST_BYTES
 *     16 keyId        8 bytes  the signing key's id (sha256 of its raw public key, first 8 bytes)
 *     24 payloadLen   uint64   bytes of the payload
 *   32               manifest, UTF-8 JSON (firmware/manifest.ts)
 *   32+manifestLen   Ed25519 signature, 64 bytes, over header || manifest
 *   96+manifestLen   payload: one zstd stream of every regular file's bytes, in manifest order
 *
 * Why so:
 * - Magic like PNG's: the high bit and the CR LF catch a text-mode or 7-bit transfer at once.
 * - The file's exact length follows from the header, so truncation or bytes appended are
 *   refused before the key is even looked at; the size cap is checked on the same read.
 * - The key id sits in the header so the verifier picks the pinned key without parsing anything
 *   unverified; it is covered by the signature, like every header byte.
 * - Ed25519 (node:crypto) signs a message whole, so it signs the small part (header and manifest)
 *   and the manifest holds the sha256 of every file and of the payload: the payload streams through
 *   the verifier once, hashed as it is unpacked, never whole in memory.
 * - The payload carries no metadata of its own: it is the files' bytes in manifest order, so the
 *   signed manifest is the ONLY authority on paths, types, modes, sizes and link targets. A tar
 *   payload (the `tar` package) would state each of them a second time in unsigned headers that
 *   must then be matched against the manifest, and bring its long-name, pax, hard-link, device and
 *   sparse-file cases (the source of node-tar's path-traversal CVEs) to a parser on every gateway,
 *   plus a new runtime dependency. Here nothing is parsed but the manifest, and each check lives
 *   once, in firmware/manifest.ts.
 * - zstd (`zstd-napi`, already the relay's compressor): the owl-relay tree is 131 MB, mostly the
 *   node binary; at level 19 it is a 36 MB bundle (docs/firmware.md). The reader caps the window
 *   (8 MiB) so a bundle cannot make a gateway allocate more, and never produces more bytes than
 *   the manifest lists.
 * - The payload's own sha256 in the manifest makes every byte of the file authenticated, so a
 *   flipped byte anywhere is refused, even one the decompressor would not notice.
 */
import { FirmwareError, FirmwareErrorCode } from './errors.js';

export const MAGIC = Buffer.from([0x89, 0x4f, 0x57, 0x4c, 0x46, 0x57, 0x0d, 0x0a]);
export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const KEY_ID_BYTES = 8;
/** A manifest of a package tree (thousands of node_modules files) is ~1 MB; 16 MiB is plenty. */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
/** Default cap of a bundle file: a packaged tree compresses to ~40 MB. */
export const DEFAULT_MAX_BUNDLE_BYTES = 256 * 1024 * 1024;
/** Default cap of the unpacked tree (the sum of the file sizes). */
export const DEFAULT_MAX_TREE_BYTES = 1024 * 1024 * 1024;
/** zstd window: level 19 uses 8 MiB; a reader allocates no more. */
export const ZSTD_WINDOW_LOG = 23;

export interface Header {
  manifestLength: number;
  /** 16 hex digits. */
  keyId: string;
  payloadLength: number;
}

export function encodeHeader(h: Header): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(b, 0);
  b.writeUInt16BE(FORMAT_VERSION, 8);
  b.writeUInt16BE(0, 10);
  b.writeUInt32BE(h.manifestLength, 12);
  b.write(h.keyId, 16, KEY_ID_BYTES, 'hex');
  b.writeBigUInt64BE(BigInt(h.payloadLength), 24);
  return b;
}

/** The header of a bundle whose file is `fileBytes` long; refuses a bad or inconsistent one. */
export function decodeHeader(b: Buffer, fileBytes: number, maxBytes: number): Header {
  if (fileBytes > maxBytes) {
    throw new FirmwareError(
      FirmwareErrorCode.TOO_LARGE,
      `the bundle is ${fileBytes} bytes, over the cap of ${maxBytes} bytes`,
    );
  }
  if (b.length < HEADER_BYTES) {
    throw corrupt(`the file is ${fileBytes} bytes, too short to be a bundle (truncated?)`);
  }
  if (!b.subarray(0, MAGIC.length).equals(MAGIC))
    throw corrupt('this is not an OWL firmware bundle (bad magic)');
  const format = b.readUInt16BE(8);
  if (format !== FORMAT_VERSION) {
    throw corrupt(`bundle format ${format} is not supported (this program reads format ${FORMAT_VERSION})`);
  }
  if (b.readUInt16BE(10) !== 0) throw corrupt('the header has unknown flags set');
  const manifestLength = b.readUInt32BE(12);
  if (manifestLength > MAX_MANIFEST_BYTES) {
    throw new FirmwareError(
      FirmwareErrorCode.TOO_LARGE,
      `the manifest is ${manifestLength} bytes, over the cap of ${MAX_MANIFEST_BYTES} bytes`,
    );
  }
  const payload = b.readBigUInt64BE(24);
  const expected = BigInt(HEADER_BYTES + manifestLength + SIGNATURE_BYTES) + payload;
  if (expected !== BigInt(fileBytes)) {
    throw corrupt(
      `the file is ${fileBytes} bytes but its header says ${expected}: ` +
        (BigInt(fileBytes) < expected ? 'truncated' : 'bytes were added'),
    );
  }
  return {
    manifestLength,
    keyId: b.toString('hex', 16, 16 + KEY_ID_BYTES),
    payloadLength: Number(payload),
  };
}

/** Offsets of the parts of a bundle with this header. */
export function layout(h: Header): { manifest: number; signature: number; payload: number } {
  const manifest = HEADER_BYTES;
  const signature = manifest + h.manifestLength;
  return { manifest, signature, payload: signature + SIGNATURE_BYTES };
}

export function corrupt(message: string): FirmwareError {
  return new FirmwareError(FirmwareErrorCode.CORRUPT, message);
}
