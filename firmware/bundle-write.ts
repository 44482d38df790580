/**
 * Signing a tree into a bundle (firmware/format.ts), on the operator's machine. One read of the
 * tree: each file is hashed as it is compressed into a payload file beside the output; then the
 * manifest (with those hashes and the payload's) is signed, and header, manifest, signature and
 * payload are written to a temporary file renamed over `out`, so a failed or interrupted sign
 * never leaves a half bundle under the output name.
 */
import { createHash, sign } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FirmwareError, FirmwareErrorCode } from './errors.js';
import { DEFAULT_MAX_BUNDLE_BYTES, HEADER_BYTES, SIGNATURE_BYTES, encodeHeader } from './format.js';
import type { PinnedKey } from './keys.js';
import { ARCHES, PROGRAMS, encodeManifest, type Entry, type Manifest } from './manifest.js';
import { compareSemVer, isSemVer } from './semver.js';
import { writeAll } from './staging.js';
import { walkTree } from './tree-walk.js';
import { ZstdStreamCompressor } from './zstd-stream.js';

export interface SignOptions {
  /** The installed package tree, e.g. what packaging stages as /opt/owl/<program>. */
  tree: string;
  out: string;
  key: PinnedKey;
  program: string;
  version: string;
  arch: string;
  /** Lowest version that may install this bundle (default 0.0.0: any). */
  minVersion?: string;
  /** zstd level 1–19 (default 19: signing is rare, the uplink is slow). */
  level?: number;
  /** Refuse to write a bundle over this (default: the verifiers' default cap). */
  maxBytes?: number;
  createdAt?: Date;
}

export async function signBundle(o: SignOptions): Promise<{ manifest: Manifest; bytes: number }> {
  const program = oneOf(o.program, PROGRAMS, 'program');
  const arch = oneOf(o.arch, ARCHES, 'arch');
  const minVersion = o.minVersion ?? '0.0.0';
  for (const [what, v] of [
    ['version', o.version],
    ['min version', minVersion],
  ] as const) {
    if (!isSemVer(v))
      throw badArgument(`${what} ${JSON.stringify(v)} is not a semantic version (like 1.4.0)`);
  }
  if (compareSemVer(minVersion, o.version) > 0)
    throw badArgument(`min version ${minVersion} is above version ${o.version}`);
  const level = o.level ?? 19;
  if (!Number.isInteger(level) || level < 1 || level > 19)
    throw badArgument(`zstd level ${level} is not in 1–19`);

  const files = await walkTree(o.tree);
  const tmp = join(dirname(o.out), `.${basename(o.out)}.${process.pid}.${Date.now()}`);
  const payloadFile = `${tmp}.payload`;
  try {
    const payload = await writePayload(o.tree, files, payloadFile, level);
    const manifest: Manifest = {
      program,
      version: o.version,
      arch,
      minVersion,
      createdAt: (o.createdAt ?? new Date()).toISOString(),
      keyId: o.key.keyId,
      payload: { encoding: 'zstd', ...payload },
      files,
    };
    const manifestBytes = encodeManifest(manifest);
    const header = encodeHeader({
      manifestLength: manifestBytes.length,
      keyId: o.key.keyId,
      payloadLength: payload.size,
    });
    const bytes = HEADER_BYTES + manifestBytes.length + SIGNATURE_BYTES + payload.size;
    const cap = o.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
    if (bytes > cap) {
      throw new FirmwareError(
        FirmwareErrorCode.TOO_LARGE,
        `the bundle would be ${bytes} bytes, over the cap of ${cap} bytes`,
      );
    }
    const signature = sign(null, Buffer.concat([header, manifestBytes]), o.key.key);
    await assemble(tmp, [header, manifestBytes, signature], payloadFile);
    await rename(tmp, o.out);
    return { manifest, bytes };
  } finally {
    await rm(payloadFile, { force: true });
    await rm(tmp, { force: true });
  }
}

/** Compresses every file, in manifest order, into `file`; fills in each file's size and sha256. */
async function writePayload(
  root: string,
  files: Entry[],
  file: string,
  level: number,
): Promise<{ size: number; sha256: string }> {
  const out = await open(file, 'wx', 0o600);
  const hash = createHash('sha256');
  let size = 0;
  try {
    const z = new ZstdStreamCompressor(level, async (bytes) => {
      hash.update(bytes);
      size += bytes.length;
      await writeAll(out, bytes);
    });
    for (const e of files) {
      if (e.type !== 'file') continue;
      const h = createHash('sha256');
      let n = 0;
      for await (const chunk of createReadStream(join(root, e.path), { highWaterMark: 1024 * 1024 })) {
        h.update(chunk as Buffer);
        n += (chunk as Buffer).length;
        await z.write(chunk as Buffer);
      }
      // What was read is what the manifest says: a file that changed size mid-read is noticed.
      if (n !== e.size)
        throw new FirmwareError(FirmwareErrorCode.BAD_TREE, `${e.path} changed while being signed`);
      e.sha256 = h.digest('hex');
    }
    await z.end();
  } finally {
    await out.close();
  }
  return { size, sha256: hash.digest('hex') };
}

async function assemble(file: string, front: Buffer[], payloadFile: string): Promise<void> {
  const out = await open(file, 'wx', 0o644);
  try {
    for (const b of front) await writeAll(out, b);
    for await (const chunk of createReadStream(payloadFile, { highWaterMark: 1024 * 1024 })) {
      await writeAll(out, chunk as Buffer);
    }
    await out.sync();
  } finally {
    await out.close();
  }
}

function oneOf<T extends string>(v: string, allowed: readonly T[], what: string): T {
  if (!(allowed as readonly string[]).includes(v))
    throw badArgument(`${what} ${JSON.stringify(v)} is not one of ${allowed.join(', ')}`);
  return v as T;
}

function badArgument(message: string): FirmwareError {
  return new FirmwareError(FirmwareErrorCode.BAD_ARGUMENT, message);
}
