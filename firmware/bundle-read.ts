/**
 * Reading a bundle. `readManifest` shows what a bundle claims, without a key (inspection).
 * `verifyBundle` is the only way a tree comes out of one, in this order, stopping at the first
 * refusal: header and size cap; signature over header and manifest with a pinned key; the
 * manifest's own rules; program, architecture and version policy; only then the payload, streamed
 * from disk into a new staging directory and hashed on the way. On any failure the staging
 * directory is removed and nothing else was written.
 */
import { createHash, verify } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { FirmwareError, FirmwareErrorCode } from './errors.js';
import {
  DEFAULT_MAX_BUNDLE_BYTES,
  DEFAULT_MAX_TREE_BYTES,
  HEADER_BYTES,
  SIGNATURE_BYTES,
  corrupt,
  decodeHeader,
  layout,
  type Header,
} from './format.js';
import type { PinnedKey } from './keys.js';
import { ARCHES, PROGRAMS, parseManifest, type Manifest } from './manifest.js';
import { checkPolicy, type Policy } from './policy.js';
import { isSemVer } from './semver.js';
import { StagingWriter, ioError } from './staging.js';
import { ZstdStreamDecompressor } from './zstd-stream.js';

export interface ReadLimits {
  /** Cap of the bundle file (default 256 MiB). */
  maxBytes?: number;
}

export interface VerifyOptions extends Policy, ReadLimits {
  /** The pinned public keys (loadPublicKeys). */
  keys: readonly PinnedKey[];
  /** Where the tree is unpacked: must not exist; its parent must. Not a slot. */
  staging: string;
  /** Cap of the unpacked tree, the sum of the file sizes (default 1 GiB). */
  maxTreeBytes?: number;
  /** Sync every file and directory before returning (default true). */
  sync?: boolean;
}

/** The parts before the payload, as read from the file: nothing here is verified. */
interface Front {
  header: Header;
  headerBytes: Buffer;
  manifestBytes: Buffer;
  signature: Buffer;
}

/** The manifest a bundle claims, checked for form but NOT for its signature (no key needed). */
export async function readManifest(
  file: string,
  limits: ReadLimits = {},
): Promise<{ manifest: Manifest; keyId: string }> {
  const front = await readFront(file, limits.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES);
  return { manifest: parseManifest(front.manifestBytes), keyId: front.header.keyId };
}

/** Verifies `file` fully and unpacks its tree into `options.staging`; the verified manifest. */
export async function verifyBundle(file: string, options: VerifyOptions): Promise<Manifest> {
  checkPolicyArguments(options);
  const front = await readFront(file, options.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES);
  checkSignature(front, options.keys);
  const manifest = parseManifest(front.manifestBytes);
  if (manifest.keyId !== front.header.keyId) throw corrupt("the manifest's key id differs from the header's");
  if (manifest.payload.size !== front.header.payloadLength)
    throw corrupt("the manifest's payload size differs from the header's");
  checkPolicy(manifest, options);
  const treeBytes = manifest.files.reduce((n, e) => n + (e.type === 'file' ? e.size : 0), 0);
  const maxTree = options.maxTreeBytes ?? DEFAULT_MAX_TREE_BYTES;
  if (treeBytes > maxTree) {
    throw new FirmwareError(
      FirmwareErrorCode.TOO_LARGE,
      `the tree unpacks to ${treeBytes} bytes, over the cap of ${maxTree} bytes`,
    );
  }
  const writer = await StagingWriter.create(options.staging, manifest.files, options.sync ?? true);
  try {
    await unpackPayload(file, layout(front.header).payload, manifest, writer);
    await writer.finish();
  } catch (err) {
    await writer.abort();
    await rm(options.staging, { recursive: true, force: true });
    throw err instanceof FirmwareError ? err : ioError('unpacking failed', err);
  }
  return manifest;
}

function checkPolicyArguments(p: Policy): void {
  const bad = (what: string): never => {
    throw new FirmwareError(FirmwareErrorCode.BAD_ARGUMENT, what);
  };
  if (p.running !== undefined && !isSemVer(p.running))
    bad(`running version ${p.running} is not a semantic version`);
  if (p.program !== undefined && !PROGRAMS.includes(p.program))
    bad(`program ${p.program} is not one of ${PROGRAMS.join(', ')}`);
  if (p.arch !== undefined && !ARCHES.includes(p.arch))
    bad(`arch ${p.arch} is not one of ${ARCHES.join(', ')}`);
}

async function readFront(file: string, maxBytes: number): Promise<Front> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    throw ioError(`cannot open the bundle ${file}`, err);
  }
  try {
    const { size } = await fh.stat();
    const headerBytes = Buffer.alloc(Math.min(HEADER_BYTES, size));
    await readFully(fh, headerBytes, 0);
    const header = decodeHeader(headerBytes, size, maxBytes);
    const at = layout(header);
    const manifestBytes = Buffer.alloc(header.manifestLength);
    await readFully(fh, manifestBytes, at.manifest);
    const signature = Buffer.alloc(SIGNATURE_BYTES);
    await readFully(fh, signature, at.signature);
    return { header, headerBytes, manifestBytes, signature };
  } finally {
    await fh.close();
  }
}

async function readFully(
  fh: Awaited<ReturnType<typeof open>>,
  into: Buffer,
  position: number,
): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await fh.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw corrupt('the bundle ended early (truncated while being read?)');
    done += bytesRead;
  }
}

function checkSignature(front: Front, keys: readonly PinnedKey[]): void {
  const pinned = keys.find((k) => k.keyId === front.header.keyId);
  if (pinned === undefined) {
    throw new FirmwareError(
      FirmwareErrorCode.UNKNOWN_KEY,
      `the bundle is signed with key ${front.header.keyId}, which is not pinned here` +
        (keys.length === 0 ? ' (no key is pinned)' : ` (pinned: ${keys.map((k) => k.keyId).join(', ')})`),
    );
  }
  const signed = Buffer.concat([front.headerBytes, front.manifestBytes]);
  if (!verify(null, signed, pinned.key, front.signature)) {
    throw new FirmwareError(
      FirmwareErrorCode.BAD_SIGNATURE,
      `the signature does not match key ${pinned.keyId}: the header or manifest was altered, or the signature is not this key's`,
    );
  }
}

/** Streams the payload from disk through the decompressor into the writer, hashing it. */
async function unpackPayload(file: string, start: number, m: Manifest, writer: StagingWriter): Promise<void> {
  const hash = createHash('sha256');
  const decompressor = new ZstdStreamDecompressor(writer.write);
  const end = start + m.payload.size - 1;
  if (m.payload.size > 0) {
    for await (const chunk of createReadStream(file, { start, end, highWaterMark: 1024 * 1024 })) {
      hash.update(chunk as Buffer);
      try {
        await decompressor.write(chunk as Buffer);
      } catch (err) {
        if (err instanceof FirmwareError) throw err;
        if (isIo(err)) throw ioError('writing the staging tree failed', err);
        throw corrupt(`the payload is not valid zstd (altered): ${(err as Error).message}`);
      }
    }
  }
  if (!decompressor.complete) throw corrupt('the payload ends inside a zstd frame (truncated or altered)');
  if (hash.digest('hex') !== m.payload.sha256)
    throw corrupt("the payload does not match the manifest's sha256 (altered)");
}

function isIo(err: unknown): boolean {
  return (
    typeof (err as NodeJS.ErrnoException).code === 'string' &&
    (err as NodeJS.ErrnoException).syscall !== undefined
  );
}
